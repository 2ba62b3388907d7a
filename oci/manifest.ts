import { OciError } from './errors.ts'
import { parseDigest } from './digest.ts'
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, MEDIA_TYPES, bareMediaType, isNondistributable } from './media-types.ts'

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  artifactType?: string
  annotations?: Record<string, string>
  platform?: Record<string, unknown>
  urls?: string[]
}

export interface ParsedManifest {
  /** The media type the manifest is stored and served with. */
  mediaType: string
  isIndex: boolean
  config?: Descriptor
  layers: Descriptor[]
  /** Child manifests of an index. */
  manifests: Descriptor[]
  subject?: Descriptor
  /** `artifactType`, else the config's media type (what the referrers API reports). */
  artifactType?: string
  annotations?: Record<string, string>
}

/** Largest manifest accepted; the spec asks registries to take at least 4 MB. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024

/**
 * Parses and checks a manifest or index as pushed. The media type comes from the body's `mediaType`, else from
 * the request's Content-Type (podman pushes OCI manifests without the field); when both are present they must agree.
 */
export function parseManifest(body: Uint8Array, contentType: string | null | undefined): ParsedManifest {
  let doc: unknown
  try {
    doc = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'))
  } catch {
    throw new OciError('MANIFEST_INVALID', 'manifest is not valid JSON')
  }
  if (!isObject(doc)) throw new OciError('MANIFEST_INVALID', 'manifest must be a JSON object')
  if (doc.schemaVersion !== 2) {
    throw new OciError('MANIFEST_INVALID', 'only schemaVersion 2 manifests are supported (schema 1 is not)')
  }
  const header = bareMediaType(contentType)
  const field = typeof doc.mediaType === 'string' ? doc.mediaType : undefined
  if (doc.mediaType !== undefined && field === undefined) throw new OciError('MANIFEST_INVALID', 'mediaType must be a string')
  let mediaType = field ?? (MANIFEST_MEDIA_TYPES.has(header) ? header : undefined)
  if (field && MANIFEST_MEDIA_TYPES.has(header) && header !== field) {
    throw new OciError('MANIFEST_INVALID', `Content-Type "${header}" does not match the manifest's mediaType "${field}"`)
  }
  mediaType ??= Array.isArray(doc.manifests) ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.ociManifest
  if (!MANIFEST_MEDIA_TYPES.has(mediaType)) {
    throw new OciError('MANIFEST_INVALID', `unsupported manifest media type "${mediaType.slice(0, 100)}"`)
  }
  const isIndex = INDEX_MEDIA_TYPES.has(mediaType)
  const subject = doc.subject === undefined || doc.subject === null ? undefined : descriptor(doc.subject, 'subject')
  const artifactType = typeof doc.artifactType === 'string' ? doc.artifactType : undefined
  const annotations = stringMap(doc.annotations, 'annotations')

  if (isIndex) {
    if (!Array.isArray(doc.manifests)) throw new OciError('MANIFEST_INVALID', 'an index needs a "manifests" array')
    const manifests = doc.manifests.map((d, i) => descriptor(d, `manifests[${i}]`))
    return { mediaType, isIndex, layers: [], manifests, subject, artifactType, annotations }
  }
  const config = descriptor(doc.config, 'config')
  const layersRaw = doc.layers ?? []
  if (!Array.isArray(layersRaw)) throw new OciError('MANIFEST_INVALID', '"layers" must be an array')
  const layers = layersRaw.map((d, i) => descriptor(d, `layers[${i}]`))
  return {
    mediaType,
    isIndex,
    config,
    layers,
    manifests: [],
    subject,
    artifactType: artifactType ?? config.mediaType,
    annotations,
  }
}

/** Blobs a manifest needs in its repository: the config and every distributable layer. */
export function requiredBlobs(m: ParsedManifest): Descriptor[] {
  const out: Descriptor[] = []
  if (m.config) out.push(m.config)
  for (const l of m.layers) if (!isNondistributable(l.mediaType)) out.push(l)
  return out
}

function descriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw new OciError('MANIFEST_INVALID', `${where} must be a descriptor object`)
  const { mediaType, digest, size } = value
  if (typeof mediaType !== 'string' || mediaType === '') {
    throw new OciError('MANIFEST_INVALID', `${where}.mediaType must be a non-empty string`)
  }
  if (typeof digest !== 'string') throw new OciError('MANIFEST_INVALID', `${where}.digest must be a string`)
  try {
    parseDigest(digest)
  } catch (err) {
    throw new OciError('MANIFEST_INVALID', `${where}.digest: ${(err as Error).message}`)
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new OciError('MANIFEST_INVALID', `${where}.size must be a non-negative integer`)
  }
  const d: Descriptor = { mediaType, digest, size }
  if (typeof value.artifactType === 'string') d.artifactType = value.artifactType
  const annotations = stringMap(value.annotations, `${where}.annotations`)
  if (annotations) d.annotations = annotations
  if (isObject(value.platform)) d.platform = value.platform
  return d
}

function stringMap(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw new OciError('MANIFEST_INVALID', `${where} must map strings to strings`)
  }
  return value as Record<string, string>
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
