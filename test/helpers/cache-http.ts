/**
 * HTTP helpers for cache tests (undici, one connection pool per test process): plain requests with an explicit
 * bearer token (no automatic token dance, so tests choose exactly what each request presents), streamed reads,
 * and pushing test images to a real origin through its API.
 */
import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import { Agent, request } from 'undici'
import { tokenFor, type Credentials } from './auth.ts'
import { MANIFEST_ACCEPT } from './registry-http.ts'
import { content, descriptor, imageConfig, imageManifest, MT, type Content, type ManifestDoc } from './oci-fixtures.ts'

const agent = new Agent({ keepAliveTimeout: 1_000, keepAliveMaxTimeout: 1_000, connections: 256 })

export interface Res {
  status: number
  headers: Record<string, string>
  body: Buffer
}

export interface ReqOptions {
  method?: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  token?: string
  headers?: Record<string, string>
  body?: Buffer | string
}

function headersOf(opts: ReqOptions): Record<string, string> {
  const h: Record<string, string> = { ...opts.headers }
  if (opts.token) h.authorization = `Bearer ${opts.token}`
  return h
}

function flat(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(h))
    if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v
  return out
}

/** One request; the whole body is read. Never throws on a status. */
export async function call(url: string, opts: ReqOptions = {}): Promise<Res> {
  const method = opts.method ?? 'GET'
  const res = await request(url, {
    method,
    headers: headersOf(opts),
    body: opts.body,
    dispatcher: agent,
    headersTimeout: 60_000,
    bodyTimeout: 60_000,
  })
  const body = method === 'HEAD' ? (await res.body.dump(), Buffer.alloc(0)) : Buffer.from(await res.body.arrayBuffer())
  return { status: res.statusCode, headers: flat(res.headers), body }
}

/** One GET whose body is left to the caller (to read part of it, or hold it open). */
export async function open(
  url: string,
  opts: ReqOptions = {},
): Promise<{ status: number; headers: Record<string, string>; body: Readable }> {
  const res = await request(url, {
    method: 'GET',
    headers: headersOf(opts),
    dispatcher: agent,
    headersTimeout: 60_000,
    bodyTimeout: 60_000,
  })
  return { status: res.statusCode, headers: flat(res.headers), body: res.body }
}

/** Reads a stream to its end; rejects if it breaks off. */
export async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of body) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

export function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`
}

/** GET (or HEAD) of a blob through a registry. */
export function blob(
  base: string,
  repo: string,
  digest: string,
  opts: ReqOptions & { ns?: string } = {},
): Promise<Res> {
  return call(`${base}/v2/${repo}/blobs/${digest}${opts.ns ? `?ns=${opts.ns}` : ''}`, opts)
}

/** GET (or HEAD) of a manifest through a registry, accepting the modern manifest types. */
export function manifest(
  base: string,
  repo: string,
  ref: string,
  opts: ReqOptions & { ns?: string } = {},
): Promise<Res> {
  return call(`${base}/v2/${repo}/manifests/${ref}${opts.ns ? `?ns=${opts.ns}` : ''}`, {
    ...opts,
    headers: { accept: MANIFEST_ACCEPT, ...opts.headers },
  })
}

/** The `errors[0].code` of an error body. */
export function errorCode(res: Res): string | undefined {
  try {
    return (JSON.parse(res.body.toString('utf8')) as { errors?: { code?: string }[] }).errors?.[0]?.code
  } catch {
    return undefined
  }
}

export interface PushedImage {
  layers: Content[]
  config: Content
  manifest: ManifestDoc
}

/** Pushes an image (a config and the given layers) to a real origin with a user's token; tags it when asked. */
export async function pushImage(
  originUrl: string,
  repo: string,
  creds: Credentials,
  layers: Buffer[],
  tag?: string,
): Promise<PushedImage> {
  const token = await tokenFor(originUrl, [`repository:${repo}:pull,push`], creds)
  const config = imageConfig()
  const contents = layers.map((l) => content(l))
  for (const b of [config, ...contents]) {
    const r = await call(`${originUrl}/v2/${repo}/blobs/uploads/?digest=${b.digest}`, {
      method: 'POST',
      token,
      body: b.bytes,
      headers: { 'content-type': 'application/octet-stream' },
    })
    if (r.status !== 201) throw new Error(`blob push to ${repo} → ${r.status} ${r.body.toString('utf8')}`)
  }
  const m = imageManifest({
    config: descriptor(config, MT.ociConfig),
    layers: contents.map((l) => descriptor(l, MT.ociLayerGzip)),
  })
  const r = await call(`${originUrl}/v2/${repo}/manifests/${tag ?? m.digest}`, {
    method: 'PUT',
    token,
    body: m.bytes,
    headers: { 'content-type': m.mediaType },
  })
  if (r.status !== 201) throw new Error(`manifest push to ${repo} → ${r.status} ${r.body.toString('utf8')}`)
  return { layers: contents, config, manifest: m }
}

/** A manifest for a fake registry: a config and layers already added there. */
export function manifestFor(config: Content, layers: Content[]): ManifestDoc {
  return imageManifest({
    config: descriptor(config, MT.ociConfig),
    layers: layers.map((l) => descriptor(l, MT.ociLayerGzip)),
  })
}

/** Parses the Prometheus text of /metrics into `name{labels}` → value. */
export async function metrics(base: string): Promise<Record<string, number>> {
  const res = await call(`${base}/metrics`)
  const out: Record<string, number> = {}
  for (const line of res.body.toString('utf8').split('\n')) {
    if (!line || line.startsWith('#')) continue
    const i = line.lastIndexOf(' ')
    out[line.slice(0, i)] = Number(line.slice(i + 1))
  }
  return out
}
