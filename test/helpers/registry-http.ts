/**
 * Small OCI distribution HTTP helpers (undici) for e2e tests: manifests, blobs, uploads.
 * They never throw on an HTTP status; callers assert statuses themselves.
 */
import { Readable } from 'node:stream'
import { Agent, request } from 'undici'
import { scopeForPath, type Credentials } from './auth.ts'
import { TEST_ADMIN } from './start-origin.ts'
import { parseBearerChallenge, type BearerChallenge } from '../../oci/challenge.ts'
import { TokenClient } from '../../oci/token-client.ts'

export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ')

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

/** Closes this module's connections to baseUrl (call before stopping that registry). */
export async function closeHttp(baseUrl: string): Promise<void> {
  const key = new URL(baseUrl).origin
  challenges.delete(key)
  // token clients for this registry, and those whose realm is here (their pool is about to go)
  for (const [k, entry] of tokens) if (k.startsWith(`${key} `) || entry.realm === key) tokens.delete(k)
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
 * Who a request authenticates as on a registry that challenges (Docker token auth): the test admin by default,
 * given credentials, `'anonymous'` (a token without credentials, as docker gets one), or `'none'` (no token).
 */
export type HttpAuth = Credentials | 'anonymous' | 'none'

// what each registry's GET /v2/ answered (undefined: no challenge), and a token client per registry and caller
const challenges = new Map<string, Promise<BearerChallenge | undefined>>()
const tokens = new Map<string, { client: TokenClient; realm: string }>()

function learnChallenge(origin: string): Promise<BearerChallenge | undefined> {
  let c = challenges.get(origin)
  if (!c) {
    c = (async () => {
      const res = await request(`${origin}/v2/`, { dispatcher: dispatcherFor(origin) })
      await res.body.dump()
      return res.statusCode === 401 ? parseBearerChallenge(res.headers['www-authenticate']) : undefined
    })()
    challenges.set(origin, c)
  }
  return c
}

function tokenClient(origin: string, challenge: BearerChallenge, auth: Credentials | 'anonymous'): TokenClient {
  const who = auth === 'anonymous' ? '' : auth.username
  const key = `${origin} ${who}`
  let entry = tokens.get(key)
  if (!entry) {
    // the challenge is learnt again only after this registry's clients are dropped, so the realm stays
    const realm = new URL(challenge.realm).origin
    const credentials = auth === 'anonymous' ? undefined : { username: auth.username, password: auth.password }
    entry = { client: new TokenClient({ dispatcher: dispatcherFor(realm), credentials }), realm }
    tokens.set(key, entry)
  }
  return entry.client
}

/** A bearer header for a request, the way docker gets one: the token endpoint, for the scope the path needs. */
async function authorization(url: string, auth: HttpAuth): Promise<string | undefined> {
  if (auth === 'none') return undefined
  const u = new URL(url)
  if (!u.pathname.startsWith('/v2/')) return undefined
  const challenge = await learnChallenge(u.origin)
  if (!challenge) return undefined
  const scope = scopeForPath(u.pathname, u.searchParams)
  return `Bearer ${await tokenClient(u.origin, challenge, auth).token(challenge, scope ? [scope] : [])}`
}

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
    retried?: boolean
  } = {},
): Promise<HttpResult> {
  const headers = { ...opts.headers }
  if (!Object.keys(headers).some((k) => k.toLowerCase() === 'authorization')) {
    const value = await authorization(url, opts.auth ?? TEST_ADMIN)
    if (value) headers.authorization = value
  }
  const res = await request(url, {
    method,
    dispatcher: dispatcherFor(url),
    headers,
    body: opts.body,
    headersTimeout: opts.timeoutMs ?? 60_000,
    bodyTimeout: opts.timeoutMs ?? 60_000,
  })
  const body = method === 'HEAD' ? (await res.body.dump(), Buffer.alloc(0)) : Buffer.from(await res.body.arrayBuffer())
  const result = { status: res.statusCode, headers: flatHeaders(res.headers), body }
  // a token cached for an earlier registry on the same port: forget what we knew and ask once more
  const replayable = !(opts.body instanceof Readable)
  if (result.status === 401 && headers.authorization && !opts.headers?.authorization && replayable && !opts.retried) {
    const origin = new URL(url).origin
    challenges.delete(origin)
    for (const k of tokens.keys()) if (k.startsWith(`${origin} `)) tokens.delete(k)
    return http(method, url, { ...opts, retried: true })
  }
  return result
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
