/**
 * Test content and push helpers for the OCI conformance tests (test/conformance/).
 *
 * Everything here is written from the specs (distribution-spec v1.1, image-spec v1.1), not from the origin's own
 * code: media types and well-known digests are spelled out literally so that a test cannot pass merely because
 * the server and the test share a wrong constant. HTTP goes through registry-http.ts (undici), which never throws
 * on a status; the push helpers below do throw when a setup step fails, so a broken setup cannot look like a pass.
 */
import { createHash, randomBytes } from 'node:crypto'
import { expect } from 'vitest'
import { http, putBlob, type HttpResult } from './registry-http.ts'

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerNondistTar: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  octetStream: 'application/octet-stream',
} as const

/** The 14 error codes of distribution-spec § Error Codes. */
export const OCI_ERROR_CODES = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
] as const
export type OciCode = (typeof OCI_ERROR_CODES)[number]

/** image-spec manifest.md: the empty descriptor's blob `{}`. */
export const EMPTY_JSON_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a'
/** sha256 and sha512 of zero bytes. */
export const EMPTY_SHA256 = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
export const EMPTY_SHA512 =
  'sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e'

export type Algorithm = 'sha256' | 'sha512'

export function digestOf(data: Uint8Array | string, algorithm: Algorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`
}

/** Some bytes and their digest. */
export interface Content {
  bytes: Buffer
  digest: string
  size: number
}

export function content(bytes: Buffer | string, algorithm: Algorithm = 'sha256'): Content {
  const b = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes
  return { bytes: b, digest: digestOf(b, algorithm), size: b.byteLength }
}

export function randomBlob(size = 512, algorithm: Algorithm = 'sha256'): Content {
  return content(randomBytes(size), algorithm)
}

/** A unique image config (a random author, as the conformance suite does), pretty-printed like Go's MarshalIndent. */
export function imageConfig(extra: Record<string, unknown> = {}, algorithm: Algorithm = 'sha256'): Content {
  const doc = {
    architecture: 'amd64',
    os: 'linux',
    author: randomBytes(8).toString('hex'),
    rootfs: { type: 'layers', diff_ids: [] },
    ...extra,
  }
  return content(JSON.stringify(doc, null, '\t'), algorithm)
}

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  [field: string]: unknown
}

export function descriptor(c: Content, mediaType: string, extra: Record<string, unknown> = {}): Descriptor {
  return { mediaType, digest: c.digest, size: c.size, ...extra }
}

/** A manifest or index as pushed: its exact bytes, digest, and the media type to send as Content-Type. */
export interface ManifestDoc extends Content {
  mediaType: string
  json: Record<string, unknown>
}

export interface ManifestOptions {
  /** The top-level `mediaType` field and the Content-Type to push with; `null` omits the field (CF does that). */
  mediaType?: string | null
  /** Content-Type to push with when the field is omitted; the OCI manifest type by default. */
  contentType?: string
  artifactType?: string
  subject?: Descriptor
  annotations?: Record<string, string>
  /** Extra top-level fields (unknown ones included). */
  extra?: Record<string, unknown>
  algorithm?: Algorithm
}

function finish(json: Record<string, unknown>, mediaType: string, algorithm: Algorithm): ManifestDoc {
  // tab indentation like the Go suite: the registry must keep these exact bytes, whitespace included
  const bytes = Buffer.from(JSON.stringify(json, null, '\t'), 'utf8')
  return { ...content(bytes, algorithm), mediaType, json }
}

export function imageManifest(opts: ManifestOptions & { config: Descriptor; layers?: Descriptor[] }): ManifestDoc {
  const fieldType = opts.mediaType === undefined ? MT.ociManifest : opts.mediaType
  const json: Record<string, unknown> = { schemaVersion: 2 }
  if (fieldType !== null) json.mediaType = fieldType
  if (opts.artifactType !== undefined) json.artifactType = opts.artifactType
  json.config = opts.config
  json.layers = opts.layers ?? []
  if (opts.subject) json.subject = opts.subject
  if (opts.annotations) json.annotations = opts.annotations
  Object.assign(json, opts.extra)
  return finish(json, fieldType ?? opts.contentType ?? MT.ociManifest, opts.algorithm ?? 'sha256')
}

export function imageIndex(opts: ManifestOptions & { manifests: Descriptor[] }): ManifestDoc {
  const fieldType = opts.mediaType === undefined ? MT.ociIndex : opts.mediaType
  const json: Record<string, unknown> = { schemaVersion: 2 }
  if (fieldType !== null) json.mediaType = fieldType
  if (opts.artifactType !== undefined) json.artifactType = opts.artifactType
  json.manifests = opts.manifests
  if (opts.subject) json.subject = opts.subject
  if (opts.annotations) json.annotations = opts.annotations
  Object.assign(json, opts.extra)
  return finish(json, fieldType ?? opts.contentType ?? MT.ociIndex, opts.algorithm ?? 'sha256')
}

export function manifestDescriptor(m: ManifestDoc, extra: Record<string, unknown> = {}): Descriptor {
  return { mediaType: m.mediaType, digest: m.digest, size: m.size, ...extra }
}

/** A unique repository name, so tests sharing one origin never see each other's content. */
export function repoName(prefix: string): string {
  return `conformance/${prefix}-${randomBytes(4).toString('hex')}`
}

// ---- HTTP ----

/** `base/v2/<path>` with query parameters; an array value repeats the parameter (`?tag=a&tag=b`). */
export function v2url(base: string, path: string, query: Record<string, string | string[]> = {}): string {
  const u = new URL(`/v2/${path}`, base)
  for (const [k, v] of Object.entries(query)) for (const one of [v].flat()) u.searchParams.append(k, one)
  return u.toString()
}

/** Resolves a Location header (absolute or relative, as the spec allows) against the registry, adding parameters. */
export function resolveLocation(base: string, location: string, query: Record<string, string> = {}): string {
  const u = new URL(location, `${base}/`)
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v)
  return u.toString()
}

/**
 * The Location header as path + query, whether the server sent it absolute or relative (reggie's
 * GetRelativeLocation); fails the test when it is missing or points at another host.
 */
export function locationPath(base: string, res: HttpResult): string {
  const loc = res.headers.location
  expect(loc, 'Location header').toBeTruthy()
  const u = new URL(loc!, `${base}/`)
  expect(u.origin, 'Location must stay on the registry').toBe(new URL(base).origin)
  return u.pathname + u.search
}

/** Monolithic blob push (POST, then PUT ?digest= with the body); throws unless it ends in 201. */
export async function pushBlob(base: string, repo: string, blob: Content): Promise<HttpResult> {
  const res = await putBlob(base, repo, blob.bytes, blob.digest)
  if (res.status !== 201)
    throw new Error(`blob push ${blob.digest} to ${repo} → ${res.status} ${res.body.toString('utf8')}`)
  return res
}

export interface PushManifestOptions {
  /** Content-Type to send; the manifest's own media type by default, `null` to send none. */
  contentType?: string | null
  /** `?tag=` parameters (push by digest with tags). */
  tags?: string[]
}

/** PUT /v2/<repo>/manifests/<ref>; returns the response whatever its status. */
export function putManifest(
  base: string,
  repo: string,
  ref: string,
  m: ManifestDoc,
  opts: PushManifestOptions = {},
): Promise<HttpResult> {
  const contentType = opts.contentType === undefined ? m.mediaType : opts.contentType
  return http('PUT', v2url(base, `${repo}/manifests/${ref}`, opts.tags ? { tag: opts.tags } : {}), {
    headers: contentType === null ? {} : { 'content-type': contentType },
    body: m.bytes,
  })
}

/** putManifest that throws unless the registry answers 201. */
export async function pushManifest(
  base: string,
  repo: string,
  ref: string,
  m: ManifestDoc,
  opts: PushManifestOptions = {},
): Promise<HttpResult> {
  const res = await putManifest(base, repo, ref, m, opts)
  if (res.status !== 201) throw new Error(`manifest push ${repo}:${ref} → ${res.status} ${res.body.toString('utf8')}`)
  return res
}

export interface PushedImage {
  config: Content
  layers: Content[]
  manifest: ManifestDoc
}

/** Pushes a small image (a config and `layers` random layers) and its manifest by `ref` (its digest by default). */
export async function pushImage(
  base: string,
  repo: string,
  opts: {
    ref?: string
    layers?: number
    algorithm?: Algorithm
    manifest?: Omit<ManifestOptions, 'algorithm'>
    /** Fields of the image config besides the defaults (`config`, `history` …). */
    config?: Record<string, unknown>
  } = {},
): Promise<PushedImage> {
  const algorithm = opts.algorithm ?? 'sha256'
  const config = imageConfig(opts.config ?? {}, algorithm)
  const layers = Array.from({ length: opts.layers ?? 1 }, () => randomBlob(256, algorithm))
  for (const b of [config, ...layers]) await pushBlob(base, repo, b)
  const manifest = imageManifest({
    ...opts.manifest,
    algorithm,
    config: descriptor(config, MT.ociConfig),
    layers: layers.map((l) => descriptor(l, MT.ociLayerGzip)),
  })
  await pushManifest(base, repo, opts.ref ?? manifest.digest, manifest)
  return { config, layers, manifest }
}

// ---- assertions ----

export interface OciErrorEntry {
  code: string
  message?: string
  detail?: unknown
}

/** The `errors` array of a response, checked to have the spec's shape. */
export function ociErrors(res: HttpResult): OciErrorEntry[] {
  let doc: unknown
  try {
    doc = JSON.parse(res.body.toString('utf8'))
  } catch {
    throw new Error(
      `expected an OCI error body (status ${res.status}), got: ${res.body.toString('utf8').slice(0, 200)}`,
    )
  }
  expect(doc).toEqual({ errors: expect.any(Array) })
  const errors = (doc as { errors: OciErrorEntry[] }).errors
  expect(errors.length).toBeGreaterThan(0)
  for (const e of errors) {
    expect(OCI_ERROR_CODES, `error code ${e.code}`).toContain(e.code)
    if (e.message !== undefined) expect(typeof e.message).toBe('string')
  }
  return errors
}

/**
 * Asserts an OCI error response: the status, a JSON body `{"errors":[{code,message,detail}]}` whose codes are all
 * among the spec's 14, the first code (when given), and the API-version header every /v2 response carries.
 */
export function expectOciError(res: HttpResult, status: number, code?: OciCode | readonly OciCode[]): OciErrorEntry[] {
  expect(res.status, `status (body: ${res.body.toString('utf8').slice(0, 300)})`).toBe(status)
  expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0')
  expect(res.headers['content-type']).toMatch(/^application\/json\b/)
  const errors = ociErrors(res)
  if (code !== undefined) {
    const allowed: readonly string[] = typeof code === 'string' ? [code] : code
    expect(allowed).toContain(errors[0]!.code)
  }
  return errors
}

/** Parses a JSON body. */
export function json<T = Record<string, unknown>>(res: HttpResult): T {
  return JSON.parse(res.body.toString('utf8')) as T
}

// ---- the conformance suite's own fixtures (CF setup.go) ----

/**
 * CF's layer: a gzipped tarball holding test.txt ("you bothered to find out what was in here. Congratulations!").
 */
export const CF_LAYER = content(
  Buffer.from(
    'H4sIAAAAAAAAA+3OQQrCMBCF4a49xXgBSUnaHMCTRBptQRNpp6i3t0UEV7oqIv7fYgbmzeJpHHSjVy0' +
      'WZCa1c/MufWVe94N3RWlrZ72x3k/30nhbFWKWLPU0Dhp6keJ8im//PuU/6pZH2WVtYx8b0Sz7LjWSR5VLG6YRBumSzOlGtjkd+qD' +
      'jMWiX07Befbs7AAAAAAAAAAAAAAAAAPyzO34MnqoAKAAA',
    'base64',
  ),
)

/**
 * A manifest shaped like CF's: the config descriptor carries `data` (the config bytes, base64) and an unknown
 * `newUnspecifiedField`; `mediaType: null` leaves the top-level field out as CF's empty-layer manifest does.
 */
export function cfManifest(config: Content, layers: Content[] = [CF_LAYER], opts: ManifestOptions = {}): ManifestDoc {
  return imageManifest({
    ...opts,
    config: descriptor(config, MT.ociConfig, {
      data: config.bytes.toString('base64'),
      newUnspecifiedField: Buffer.from('hello world').toString('base64'),
    }),
    layers: layers.map((l) => descriptor(l, MT.ociLayerGzip)),
  })
}
