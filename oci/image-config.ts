import type { Descriptor } from './manifest.ts'

/** What an image's config says about how it runs, as a person reads it (image-spec config.md). */
export interface ImageConfigSummary {
  architecture: string | null
  os: string | null
  variant: string | null
  created: string | null
  author: string | null
  user: string | null
  workingDir: string | null
  entrypoint: string[] | null
  cmd: string[] | null
  env: string[]
  exposedPorts: string[]
  volumes: string[]
  labels: Record<string, string>
  stopSignal: string | null
}

/** One entry of the config's `history`: a Dockerfile instruction, with or without a layer of its own. */
export interface HistoryEntry {
  createdBy: string | null
  created: string | null
  comment: string | null
  emptyLayer: boolean
}

export interface ParsedImageConfig {
  summary: ImageConfigSummary
  history: HistoryEntry[]
}

/** A build step as shown: the Dockerfile line and the layer it produced, if any. */
export interface BuildStep {
  /** The Dockerfile line (`RUN apt-get update`), from history's created_by; null when the config says nothing. */
  line: string | null
  created: string | null
  comment: string | null
  /** The layer this step produced; undefined for a step with `empty_layer` (ENV, CMD, LABEL …). */
  layer: Descriptor | undefined
}

/** Reads an image config; anything that is not one gives null (the caller shows the layers without lines). */
export function parseImageConfig(bytes: Uint8Array): ParsedImageConfig | null {
  let doc: unknown
  try {
    doc = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'))
  } catch {
    return null
  }
  if (!isObject(doc)) return null
  const c = isObject(doc.config) ? doc.config : {}
  const summary: ImageConfigSummary = {
    architecture: str(doc.architecture),
    os: str(doc.os),
    variant: str(doc.variant),
    created: str(doc.created),
    author: str(doc.author),
    user: str(c.User) || null,
    workingDir: str(c.WorkingDir) || null,
    entrypoint: strings(c.Entrypoint),
    cmd: strings(c.Cmd),
    env: strings(c.Env) ?? [],
    exposedPorts: isObject(c.ExposedPorts) ? Object.keys(c.ExposedPorts) : [],
    volumes: isObject(c.Volumes) ? Object.keys(c.Volumes) : [],
    labels: isObject(c.Labels)
      ? Object.fromEntries(Object.entries(c.Labels).filter((e): e is [string, string] => typeof e[1] === 'string'))
      : {},
    stopSignal: str(c.StopSignal),
  }
  const history = Array.isArray(doc.history)
    ? doc.history.filter(isObject).map((h) => ({
        createdBy: str(h.created_by),
        created: str(h.created),
        comment: str(h.comment),
        emptyLayer: h.empty_layer === true,
      }))
    : []
  return { summary, history }
}

/**
 * Pairs history with layers as the image spec does: each history entry without `empty_layer` produced the next
 * layer in order. Layers left over (a config with short or no history) come last without a line; history entries
 * that would need more layers than there are keep no layer.
 */
export function alignHistory(history: readonly HistoryEntry[], layers: readonly Descriptor[]): BuildStep[] {
  const steps: BuildStep[] = []
  let next = 0
  for (const h of history) {
    const layer = h.emptyLayer ? undefined : layers[next]
    if (!h.emptyLayer) next++
    steps.push({ line: h.createdBy === null ? null : dockerfileLine(h.createdBy), created: h.created, comment: h.comment, layer })
  }
  for (; next < layers.length; next++) steps.push({ line: null, created: null, comment: null, layer: layers[next] })
  return steps
}

/**
 * The Dockerfile line behind a history `created_by`: the classic builder writes `/bin/sh -c #(nop) ENV A=b` for
 * instructions without a command and `/bin/sh -c apt-get …` for RUN; BuildKit writes the instruction itself with a
 * `# buildkit` comment. Anything else is shown as it is.
 */
export function dockerfileLine(createdBy: string): string {
  let line = createdBy.trim()
  line = line.replace(/\s+# buildkit$/, '')
  const nop = /^\/bin\/(?:ba)?sh -c #\(nop\)\s*(.*)$/s.exec(line)
  if (nop) return nop[1]!.trim()
  const run = /^\/bin\/(?:ba)?sh -c (.*)$/s.exec(line)
  if (run) return `RUN ${run[1]!.trim()}`
  // BuildKit's RUN with build args: "RUN |2 A=1 B=2 /bin/sh -c cmd"
  const args = /^RUN \|\d+ (?:\S+=\S*\s+)*\/bin\/(?:ba)?sh -c (.*)$/s.exec(line)
  if (args) return `RUN ${args[1]!.trim()}`
  const shell = /^RUN \/bin\/(?:ba)?sh -c (.*)$/s.exec(line)
  if (shell) return `RUN ${shell[1]!.trim()}`
  return line
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null
}

function strings(v: unknown): string[] | null {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : null
}
