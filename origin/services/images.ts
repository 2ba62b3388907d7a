import type { Logger } from 'pino'
import {
  alignHistory,
  parseImageConfig,
  type BuildStep,
  type ImageConfigSummary,
  type ParsedImageConfig,
} from '../../oci/image-config.ts'
import { parseManifest, type Descriptor, type ParsedManifest } from '../../oci/manifest.ts'
import { isValidTag, parseReference } from '../../oci/reference.ts'
import { OciError } from '../../oci/errors.ts'
import { ApiError } from '../../lib/api-error.ts'
import type { BlobStore } from '../storage/blob-store.ts'
import type { ManifestRow, Metadata, RepositoryFilter, RepositorySummaryRow } from '../storage/metadata.ts'
import { allow, iso, signedIn } from './common.ts'
import { actorOf } from './events.ts'
import type { RegistryService } from './registry.ts'
import { namespaceOf, type Action, type Caller, type Permissions } from './permissions.ts'
import type { RepositoriesService, Visibility } from './repositories.ts'

/** Largest image config read for display; a larger one is shown without its summary and history. */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024

export interface RepositorySummary {
  name: string
  namespace: string
  visibility: Visibility
  description: string
  tagCount: number
  /** Bytes of the blobs it holds, each counted once. */
  size: number
  pushedAt: string | null
  pushedBy: string | null
  createdAt: string
  createdBy: string
}

export interface RepositorySearch {
  search?: string
  namespace?: string
  visibility?: Visibility
  mine?: boolean
  sort: 'name' | 'pushed'
  /** 1-based. */
  page: number
  perPage: number
}

export interface SearchResult {
  items: RepositorySummary[]
  total: number
  page: number
  pages: number
}

export interface PlatformView {
  os: string | null
  architecture: string | null
  variant: string | null
  digest: string
  /** Compressed bytes: config and layers of that platform's manifest (null when it is not stored here). */
  size: number | null
}

export interface TagView {
  name: string
  digest: string
  mediaType: string
  kind: ManifestKind
  /** Compressed bytes of a single image (config and layers); null for an index (see platforms). */
  size: number | null
  platforms: PlatformView[]
  pushedBy: string
  pushedAt: string
  pulledAt: string | null
}

export type ManifestKind = 'image' | 'index' | 'artifact'

export interface ReferrerView {
  digest: string
  mediaType: string
  artifactType: string | null
  size: number
  annotations: Record<string, string> | null
}

export interface ImageView {
  repository: string
  digest: string
  mediaType: string
  kind: ManifestKind
  tags: string[]
  pushedBy: string
  pushedAt: string
  pulledAt: string | null
  /** Manifest, config and layers, compressed (an index: its children's, those stored here). */
  size: number | null
  /** For an index: one entry per platform. */
  platforms: PlatformView[]
  /** For an image: each build step with the layer it produced. */
  steps: BuildStep[]
  config: ImageConfigSummary | null
  configDigest: string | null
  /** Why the config could not be shown, when it could not. */
  configProblem: string | null
  annotations: Record<string, string> | null
  referrers: ReferrerView[]
  /** What the caller may do with the repository. */
  actions: Action[]
}

export interface ImagesDeps {
  meta: Metadata
  registry: Pick<RegistryService, 'deleteManifest'>
  blobs: BlobStore
  repositories: RepositoriesService
  permissions: Permissions
  log: Logger
}

/**
 * What people browse: repositories with their size and latest push, tags with platforms and sizes, and an image's
 * layers against the Dockerfile lines that made them, its config and what refers to it. Read-only; every read
 * checks that the caller may see the repository (a private one is "not found" to others).
 */
export class ImagesService {
  readonly #d: ImagesDeps

  constructor(deps: ImagesDeps) {
    this.#d = deps
  }

  /** Repositories the caller may see that match the search, one page of them, with the total. */
  search(caller: Caller, q: RepositorySearch): SearchResult {
    const p = caller.principal
    const filter: RepositoryFilter = { sort: q.sort }
    if (q.search) filter.search = q.search
    if (q.namespace) filter.namespace = q.namespace
    if (q.visibility) filter.visibility = q.visibility
    if (q.mine) {
      if (p.kind !== 'user') throw new ApiError('UNAUTHORIZED', 'sign in to list your own repositories')
      filter.mine = p.name
    }
    // visibility is a rule of the permissions, not a column: the matches are filtered here, then paged
    const visible = this.#d.meta
      .repositorySummaries(filter)
      .filter((r) => this.#d.permissions.canSeeRepository(p, r.name))
    const pages = Math.max(1, Math.ceil(visible.length / q.perPage))
    const page = Math.min(Math.max(1, q.page), pages)
    const items = visible.slice((page - 1) * q.perPage, page * q.perPage).map(summary)
    return { items, total: visible.length, page, pages }
  }

  /** A page of a repository's tags, latest push first. */
  async tags(
    caller: Caller,
    repository: string,
    offset: number,
    limit: number,
  ): Promise<{ items: TagView[]; total: number }> {
    this.#d.repositories.visible(caller.principal, repository)
    const rows = this.#d.meta.tagDetails(repository, offset, limit)
    const items: TagView[] = []
    for (const t of rows) {
      const m = parse(t.body, t.mediaType)
      const kind = kindOf(m)
      items.push({
        name: t.name,
        digest: t.digest,
        mediaType: t.mediaType,
        kind,
        size: m && !m.isIndex ? imageSize(m) : null,
        platforms: m?.isIndex
          ? this.#platforms(repository, m)
          : m && kind === 'image'
            ? [await this.#imagePlatform(t.digest, m)]
            : [],
        pushedBy: t.pushedBy,
        pushedAt: iso(t.updatedAt),
        pulledAt: iso(t.pulledAt),
      })
    }
    return { items, total: this.#d.meta.tagCount(repository) }
  }

  /** A single image's platform, from its config. */
  async #imagePlatform(digest: string, m: ParsedManifest): Promise<PlatformView> {
    const config = m.config ? await this.#readConfig(m.config) : undefined
    const summary = config && 'summary' in config ? config.summary : undefined
    return {
      os: summary?.os ?? null,
      architecture: summary?.architecture ?? null,
      variant: summary?.variant ?? null,
      digest,
      size: imageSize(m),
    }
  }

  /** A manifest or index by tag or digest, as the image page shows it. */
  async image(caller: Caller, repository: string, reference: string): Promise<ImageView> {
    this.#d.repositories.visible(caller.principal, repository)
    const row = this.#manifest(repository, reference)
    const m = parse(row.body, row.mediaType)
    const view: ImageView = {
      repository,
      digest: row.digest,
      mediaType: row.mediaType,
      kind: kindOf(m),
      tags: this.#d.meta.tagsOf(repository, row.digest),
      pushedBy: row.pushedBy,
      pushedAt: iso(row.createdAt),
      pulledAt: iso(row.pulledAt ?? null),
      size: null,
      platforms: [],
      steps: [],
      config: null,
      configDigest: null,
      configProblem: null,
      annotations: row.annotations,
      referrers: this.#d.meta.referrers(repository, row.digest).map((r) => ({
        digest: r.digest,
        mediaType: r.mediaType,
        artifactType: r.artifactType,
        size: r.size,
        annotations: r.annotations,
      })),
      actions: [...this.#d.permissions.actions(caller.principal, repository)],
    }
    if (!m) {
      view.configProblem = 'the manifest could not be read'
      return view
    }
    if (m.isIndex) {
      view.platforms = this.#platforms(repository, m)
      const sizes = view.platforms.map((p) => p.size)
      view.size = sizes.every((s) => s !== null) ? sizes.reduce((a, b) => a! + b!, 0) : null
      return view
    }
    view.size = imageSize(m)
    view.configDigest = m.config?.digest ?? null
    const config = m.config ? await this.#readConfig(m.config) : { problem: 'the manifest has no config' }
    if ('problem' in config) {
      view.configProblem = config.problem
      view.steps = alignHistory([], m.layers)
      return view
    }
    view.config = config.summary
    view.steps = alignHistory(config.history, m.layers)
    return view
  }

  /** Deletes a tag (the manifest stays, reachable by digest); for those who may delete in the repository. */
  deleteTag(caller: Caller, repository: string, tag: string): void {
    const p = signedIn(caller)
    this.#d.repositories.visible(p, repository)
    allow(this.#d.permissions.actions(p, repository).has('delete'), `you may not delete tags of ${repository}`)
    if (!isValidTag(tag)) throw new ApiError('BAD_REQUEST', `invalid tag "${tag.slice(0, 100)}"`)
    try {
      this.#d.registry.deleteManifest(repository, tag, { actor: actorOf(p), address: caller.address })
    } catch (err) {
      if (err instanceof OciError && err.code === 'MANIFEST_UNKNOWN')
        throw new ApiError('NOT_FOUND', `${repository} has no tag ${tag}`)
      throw err
    }
  }

  #manifest(repository: string, reference: string): ManifestRow {
    let ref
    try {
      ref = parseReference(reference, 'unknown')
    } catch {
      throw new ApiError('BAD_REQUEST', `"${reference.slice(0, 100)}" is neither a tag nor a digest`)
    }
    const digest = ref.kind === 'tag' ? this.#d.meta.tag(repository, ref.tag) : ref.digest.digest
    const row = digest === undefined ? undefined : this.#d.meta.manifest(repository, digest)
    if (!row)
      throw new ApiError(
        'NOT_FOUND',
        `${repository} has no ${ref.kind === 'tag' ? 'tag' : 'manifest'} ${reference.slice(0, 100)}`,
      )
    return row
  }

  #platforms(repository: string, index: ParsedManifest): PlatformView[] {
    return index.manifests.map((d) => {
      const platform = d.platform ?? {}
      const child = this.#d.meta.manifest(repository, d.digest)
      const parsed = child ? parse(child.body, child.mediaType) : undefined
      return {
        os: typeof platform.os === 'string' ? platform.os : null,
        architecture: typeof platform.architecture === 'string' ? platform.architecture : null,
        variant: typeof platform.variant === 'string' ? platform.variant : null,
        digest: d.digest,
        size: parsed && !parsed.isIndex ? imageSize(parsed) : null,
      }
    })
  }

  async #readConfig(d: Descriptor): Promise<ParsedImageConfig | { problem: string }> {
    if (d.size > MAX_CONFIG_BYTES) return { problem: `the config is ${d.size} bytes, more than is shown` }
    const onDisk = await this.#d.blobs.stat(d.digest)
    if (onDisk !== d.size) return { problem: 'the config blob is not stored here' }
    const chunks: Buffer[] = []
    try {
      for await (const chunk of this.#d.blobs.open(d.digest)) chunks.push(chunk as Buffer)
    } catch (err) {
      this.#d.log.warn({ err, digest: d.digest }, 'could not read an image config')
      return { problem: 'the config blob could not be read' }
    }
    const parsed = parseImageConfig(Buffer.concat(chunks))
    return parsed ?? { problem: 'the config is not an image config' }
  }
}

function summary(r: RepositorySummaryRow): RepositorySummary {
  return {
    name: r.name,
    namespace: namespaceOf(r.name),
    visibility: r.visibility,
    description: r.description,
    tagCount: r.tagCount,
    size: r.size,
    pushedAt: iso(r.pushedAt),
    pushedBy: r.pushedBy,
    createdAt: iso(r.createdAt),
    createdBy: r.createdBy,
  }
}

function parse(body: Buffer, mediaType: string): ParsedManifest | undefined {
  try {
    return parseManifest(body, mediaType)
  } catch {
    return undefined
  }
}

function kindOf(m: ParsedManifest | undefined): ManifestKind {
  if (!m) return 'artifact'
  if (m.isIndex) return 'index'
  const image =
    m.config?.mediaType === 'application/vnd.oci.image.config.v1+json' ||
    m.config?.mediaType === 'application/vnd.docker.container.image.v1+json'
  return image ? 'image' : 'artifact'
}

function imageSize(m: ParsedManifest): number {
  return (m.config?.size ?? 0) + m.layers.reduce((a, l) => a + l.size, 0)
}
