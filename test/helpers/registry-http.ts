/**
 * Small OCI distribution HTTP helpers (undici) for e2e tests: manifests, blobs, uploads.
 * They never throw on an HTTP status; callers assert statuses themselves.
 */
import { Readable } from 'node:stream'
import { Agent } from 'undici'
import type { Credentials } from './auth.ts'
import { TEST_ADMIN } from './start-origin.ts'
import { MANIFEST_ACCEPT as OCI_MANIFEST_ACCEPT, RegistryClient } from '../../oci/registry-client.ts'
import { TokenClient } from '../../oci/token-client.ts'

export const MANIFEST_ACCEPT = OCI_MANIFEST_ACCEPT.join(', ')

// one connection pool per registry, so a test can drop its keep-alive sockets before stopping the server
// (a server's close() waits for open connections)
const agents = new Map<string, Agent>()

function dispatcherFor(url: string): Agent {
  const key = new URL(url).origin
  let agent = agents.get(key)
  if (!agent) {
    agent = new Agent({ keepAliveTimeout: 5_000 })
    agents.set(key, agent)
  }
  return agent
}

/**
 * Who a request authenticates as on a registry that challenges (Docker token auth): the test admin by default,
 * given credentials, `'anonymous'` (a token without credentials, as docker gets one), or `'none'` (no token).
 */
export type HttpAuth = Credentials | 'anonymous' | 'none'

// one oci/ registry client per registry and caller: each learns its registry's challenge and keeps its tokens
const clients = new Map<string, RegistryClient>()

function clientFor(origin: string, auth: HttpAuth): RegistryClient {
  const who = auth === 'none' ? '\0none' : auth === 'anonymous' ? '' : auth.username
  const key = `${origin} ${who}`
  let client = clients.get(key)
  if (!client) {
    const credentials = typeof auth === 'object' ? { username: auth.username, password: auth.password } : undefined
    client = new RegistryClient({
      url: origin,
      dispatcher: dispatcherFor,
      ...(auth === 'none' ? {} : { tokens: new TokenClient({ dispatcher: dispatcherFor, credentials }) }),
    })
    clients.set(key, client)
  }
  return client
}

/** Closes this module's connections to baseUrl (call before stopping that registry). */
export async function closeHttp(baseUrl: string): Promise<void> {
  const key = new URL(baseUrl).origin
  // clients of this registry, and those whose token realm is here (their tokens come from a server about to go)
  for (const [k, client] of clients) {
    const realm = client.challenge?.realm
    if (k.startsWith(`${key} `) || (realm !== undefined && new URL(realm).origin === key)) clients.delete(k)
  }
  const agent = agents.get(key)
  agents.delete(key)
  await agent?.destroy()
}

export interface HttpResult {
  status: number
  headers: Record<string, string>
  body: Buffer
}

function flatHeaders(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(h))
    if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v
  return out
}

/**
 * One request, through the registry client of oci/ (tokens the way docker gets them: the challenge's realm, for
 * the scopes the method and path need); redirects are returned, not followed.
 */
export async function http(
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  url: string,
  // a header given as an array is sent once per value (Docker sends one Accept line per media type)
  opts: {
    headers?: Record<string, string | string[]>
    body?: Buffer | string | Readable
    timeoutMs?: number
    /** Default: the test admin, when the registry asks for tokens. */
    auth?: HttpAuth
  } = {},
): Promise<HttpResult> {
  const u = new URL(url)
  const res = await clientFor(u.origin, opts.auth ?? TEST_ADMIN).send({
    method,
    path: url,
    ...(opts.headers ? { headers: opts.headers } : {}),
    ...(opts.body !== undefined ? { body: opts.body } : {}),
    // only the registry API takes its tokens
    token: u.pathname.startsWith('/v2/'),
    follow: false,
    timeoutMs: opts.timeoutMs ?? 60_000,
  })
  const body = method === 'HEAD' ? (await res.body.dump(), Buffer.alloc(0)) : Buffer.from(await res.body.arrayBuffer())
  return { status: res.status, headers: flatHeaders(res.headers), body }
}

export function getManifest(baseUrl: string, repo: string, ref: string): Promise<HttpResult> {
  return http('GET', `${baseUrl}/v2/${repo}/manifests/${ref}`, { headers: { accept: MANIFEST_ACCEPT } })
}

export function getBlob(baseUrl: string, repo: string, digest: string, headers: Record<string, string> = {}) {
  return http('GET', `${baseUrl}/v2/${repo}/blobs/${digest}`, { headers })
}

export function headBlob(baseUrl: string, repo: string, digest: string) {
  return http('HEAD', `${baseUrl}/v2/${repo}/blobs/${digest}`)
}

/** The `errors[].code` values of an OCI error body (empty when the body is not one). */
export function errorCodes(res: HttpResult): string[] {
  try {
    const j = JSON.parse(res.body.toString('utf8')) as { errors?: { code?: string }[] }
    return (j.errors ?? []).map((e) => String(e.code))
  } catch {
    return []
  }
}

/** Resolves an upload Location (absolute or relative) against the registry base URL, adding query params. */
export function uploadUrl(baseUrl: string, location: string, params: Record<string, string> = {}): string {
  const u = new URL(location, `${baseUrl}/`)
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v)
  return u.toString()
}

/** Re-roots an upload Location onto another base URL (same path and query), e.g. after a restart on a new port. */
export function rebaseUrl(baseUrl: string, location: string): string {
  const u = new URL(location, `${baseUrl}/`)
  const b = new URL(baseUrl)
  u.protocol = b.protocol
  u.host = b.host
  return u.toString()
}

export async function startUpload(baseUrl: string, repo: string): Promise<{ res: HttpResult; location: string }> {
  const res = await http('POST', `${baseUrl}/v2/${repo}/blobs/uploads/`)
  const location = res.headers.location ?? ''
  return { res, location }
}

/** POST + PUT ?digest= with the whole body (monolithic upload). */
export async function putBlob(baseUrl: string, repo: string, data: Buffer, digest: string): Promise<HttpResult> {
  const { res, location } = await startUpload(baseUrl, repo)
  if (res.status !== 202 || !location) {
    throw new Error(`POST /v2/${repo}/blobs/uploads/ → ${res.status} ${res.body.toString('utf8')}`)
  }
  return http('PUT', uploadUrl(baseUrl, location, { digest }), {
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.length) },
    body: data,
  })
}

/** A Readable over a buffer in chunks (so undici streams it with chunked transfer encoding). */
export function chunked(data: Buffer, chunkSize = 1 << 20): Readable {
  let off = 0
  return new Readable({
    read() {
      if (off >= data.length) {
        this.push(null)
        return
      }
      const end = Math.min(off + chunkSize, data.length)
      this.push(data.subarray(off, end))
      off = end
    },
  })
}

/** POST + one streamed PATCH (no Content-Length) + PUT ?digest=. Returns every response for assertions. */
export async function streamedUpload(
  baseUrl: string,
  repo: string,
  data: Buffer,
  digest: string,
): Promise<{ post: HttpResult; patch: HttpResult; put: HttpResult }> {
  const { res: post, location } = await startUpload(baseUrl, repo)
  if (post.status !== 202 || !location) return { post, patch: post, put: post }
  const patch = await http('PATCH', uploadUrl(baseUrl, location), {
    headers: { 'content-type': 'application/octet-stream' },
    body: chunked(data),
  })
  const next = patch.headers.location ?? location
  const put = await http('PUT', uploadUrl(baseUrl, next, { digest }), { headers: { 'content-length': '0' } })
  return { post, patch, put }
}
