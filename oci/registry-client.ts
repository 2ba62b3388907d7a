import { createHash } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { parseBearerChallenge, type BearerChallenge } from './challenge.ts'
import { scopesForRequest } from './scope.ts'
import type { TokenClient } from './token-client.ts'

const DEFAULT_TIMEOUT_MS = 60_000
const MAX_REDIRECTS = 5
const REDIRECTS = new Set([301, 302, 303, 307, 308])
/** Error bodies are read up to this much; the rest is discarded. */
const ERROR_BODY_MAX = 64 * 1024

export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]

export type RegistryErrorReason =
  /** The registry answered a status the step does not allow (`status`, `codes` and `messages` say what). */
  | 'STATUS'
  /** More than five redirects, or one to a non-HTTP URL. */
  | 'REDIRECT'
  /** A 2xx answer that breaks the protocol: a wrong digest, no Location on an upload. */
  | 'PROTOCOL'

/** One registry call that went wrong; network failures and TokenErrors pass through as they are. */
export class RegistryError extends Error {
  readonly reason: RegistryErrorReason
  /** The registry's status, when the reason is one. */
  readonly status: number | undefined
  /** The `errors[].code` values of the registry's OCI error body (empty when it had none). */
  readonly codes: string[]
  /** The `errors[].message` values of that body. */
  readonly messages: string[]
  constructor(
    reason: RegistryErrorReason,
    message: string,
    opts: { status?: number; codes?: string[]; messages?: string[] } = {},
  ) {
    super(message)
    this.name = 'RegistryError'
    this.reason = reason
    this.status = opts.status
    this.codes = opts.codes ?? []
    this.messages = opts.messages ?? []
  }
}

export interface RegistryClientOptions {
  /** The registry's base URL (`http://host:port`); paths are resolved against it. */
  url: string | URL
  /** Sends every request: one dispatcher, or one chosen per origin (a sized pool for the registry, an agent for CDNs). */
  dispatcher: Dispatcher | ((origin: string) => Dispatcher)
  /**
   * Docker token authentication: a challenged request is answered with a token from the challenge's realm for the
   * request's scopes (the client's credentials are the TokenClient's). Without it no token is ever asked for.
   */
  tokens?: TokenClient
  /** headersTimeout and bodyTimeout of each request (default 60 s). */
  timeoutMs?: number
  userAgent?: string
  /** Headers sent on every request (read per request), besides the request's own. */
  headers?: () => Record<string, string>
}

export type RequestBody = Buffer | string | Readable

export interface SendOptions {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  /** A path with its query (`/v2/...`), or an absolute URL (an upload Location). */
  path: string
  /** A header given as an array is sent once per value (docker sends one Accept line per media type). */
  headers?: Record<string, string | string[]>
  /** A Buffer or string is sent again after a 401; a stream cannot be, so its token is fetched up front. */
  body?: RequestBody
  /** The token's scopes (default: what the method and path need, scopesForRequest). */
  scopes?: string[]
  /**
   * Ask for tokens when challenged (default true when the client has a TokenClient and the request carries no
   * Authorization of its own).
   */
  token?: boolean
  /** Follow redirects (default: for GET and HEAD). Authorization is dropped once a redirect leaves the registry's origin. */
  follow?: boolean
  timeoutMs?: number
}

export interface RegistryResponse {
  status: number
  headers: IncomingHttpHeaders
  /** Must be consumed or dumped by the caller. */
  body: Dispatcher.ResponseData['body']
  /** Where the answer came from (after redirects). */
  url: URL
}

/**
 * The client half of the OCI distribution API, shared by the cache's upstreams, the bench and the test helpers: a
 * registry's Bearer challenge learnt once and a token asked for up front from then on, one retry after a 401 when
 * the body can be sent again, redirects for GET and HEAD (at most five, http(s) only, without Authorization once
 * they leave the registry's origin), and manifests, blobs and the three ways to push a blob on top. `send` never
 * throws on a status; the typed calls throw a RegistryError for any answer their step does not allow.
 */
export class RegistryClient {
  readonly url: URL
  readonly #o: RegistryClientOptions
  /** The registry's challenge: undefined until it challenged (or was pinged), null when GET /v2/ needs no token. */
  #challenge: BearerChallenge | null | undefined

  constructor(opts: RegistryClientOptions) {
    this.url = new URL(opts.url)
    this.#o = opts
  }

  /** The challenge the registry last answered with, if any. */
  get challenge(): BearerChallenge | undefined {
    return this.#challenge ?? undefined
  }

  /** GET /v2/ without a token: 200 (no auth needed) or 401 with the challenge, which is remembered. */
  async ping(): Promise<{ status: number; challenge: BearerChallenge | undefined; headers: IncomingHttpHeaders }> {
    const res = await this.send({ method: 'GET', path: '/v2/', token: false })
    await res.body.dump()
    const challenge = res.status === 401 ? parseBearerChallenge(res.headers['www-authenticate']) : undefined
    if (res.status === 200) this.#challenge = null
    else if (challenge) this.#challenge = challenge
    return { status: res.status, challenge, headers: res.headers }
  }

  /**
   * The Authorization value for the scopes: a token from the registry's realm (pinging first if its challenge is
   * not known yet), or undefined when the registry asks for none or the client has no TokenClient.
   */
  async authorization(scopes: readonly string[]): Promise<string | undefined> {
    const tokens = this.#o.tokens
    if (!tokens) return undefined
    if (this.#challenge === undefined) await this.ping()
    const challenge = this.#challenge
    if (!challenge) return undefined
    return `Bearer ${await tokens.token(challenge, scopes)}`
  }

  /** One request; any status is returned as it is. */
  async send(req: SendOptions): Promise<RegistryResponse> {
    const url = new URL(req.path, this.url)
    const headers: Record<string, string | string[]> = {
      ...(this.#o.userAgent ? { 'user-agent': this.#o.userAgent } : {}),
      ...this.#o.headers?.(),
      ...req.headers,
    }
    const own = Object.keys(headers).some((k) => k.toLowerCase() === 'authorization')
    const tokens = req.token !== false && !own ? this.#o.tokens : undefined
    const scopes = req.scopes ?? scopesForRequest(req.method, url.pathname, url.searchParams)
    const known = this.#challenge
    if (tokens && known) headers.authorization = `Bearer ${await tokens.token(known, scopes)}`
    else if (tokens && known === undefined && req.body instanceof Readable) {
      // a stream cannot be sent twice: learn the challenge first, as docker does before an upload
      const auth = await this.authorization(scopes)
      if (auth) headers.authorization = auth
    }
    const res = await this.#follow(req, url, headers)
    if (res.status !== 401 || !tokens) return res
    const challenge = parseBearerChallenge(res.headers['www-authenticate'])
    if (!challenge) return res
    // a token the registry no longer honours, or a registry that challenges for the first time
    const sent = this.#challenge
    if (sent && headers.authorization) tokens.forget(sent, scopes)
    this.#challenge = {
      realm: challenge.realm,
      ...(challenge.service !== undefined ? { service: challenge.service } : {}),
    }
    if (req.body instanceof Readable) return res
    await res.body.dump()
    const wanted = challenge.scope && !scopes.includes(challenge.scope) ? [...scopes, challenge.scope] : scopes
    const token = await tokens.token(this.#challenge, wanted)
    return this.#follow(req, url, { ...headers, authorization: `Bearer ${token}` })
  }

  /** GET a manifest; a status other than 200 throws. */
  async getManifest(
    repo: string,
    reference: string,
    accept: readonly string[] = MANIFEST_ACCEPT,
  ): Promise<{ body: Buffer; mediaType: string | undefined; digest: string | undefined }> {
    const res = await this.send({
      method: 'GET',
      path: `/v2/${repo}/manifests/${reference}`,
      headers: { accept: [...accept] },
    })
    await expectStatus(res, [200], `GET manifest ${reference} of ${repo}`)
    const body = Buffer.from(await res.body.arrayBuffer())
    return { body, mediaType: header(res, 'content-type'), digest: header(res, 'docker-content-digest') }
  }

  /** HEAD a manifest: its digest, media type and size, or undefined for a 404. */
  async headManifest(
    repo: string,
    reference: string,
    accept: readonly string[] = MANIFEST_ACCEPT,
  ): Promise<{ digest: string | undefined; mediaType: string | undefined; size: number | undefined } | undefined> {
    const res = await this.send({
      method: 'HEAD',
      path: `/v2/${repo}/manifests/${reference}`,
      headers: { accept: [...accept] },
    })
    if (res.status === 404) {
      await res.body.dump()
      return undefined
    }
    await expectStatus(res, [200], `HEAD manifest ${reference} of ${repo}`)
    await res.body.dump()
    const length = header(res, 'content-length')
    return {
      digest: header(res, 'docker-content-digest'),
      mediaType: header(res, 'content-type'),
      size: length === undefined ? undefined : Number(length),
    }
  }

  /** PUT a manifest under a tag or digest; returns its digest, checked against the registry's Docker-Content-Digest. */
  async putManifest(repo: string, reference: string, body: Buffer, mediaType: string): Promise<string> {
    const digest = sha256(body)
    const res = await this.send({
      method: 'PUT',
      path: `/v2/${repo}/manifests/${reference}`,
      headers: { 'content-type': mediaType, 'content-length': String(body.byteLength) },
      body,
    })
    await expectCreated(res, digest, `PUT manifest ${reference} of ${repo}`)
    return digest
  }

  /** GET a blob (or a range of it, answered 206); the caller consumes the body. Other statuses throw. */
  async getBlob(repo: string, digest: string, opts: { range?: string } = {}): Promise<RegistryResponse> {
    const res = await this.send({
      method: 'GET',
      path: `/v2/${repo}/blobs/${digest}`,
      ...(opts.range ? { headers: { range: opts.range } } : {}),
    })
    await expectStatus(res, opts.range ? [200, 206] : [200], `GET blob ${digest} of ${repo}`)
    return res
  }

  /** HEAD a blob: its size, or undefined for a 404. */
  async headBlob(repo: string, digest: string): Promise<{ size: number | undefined } | undefined> {
    const res = await this.send({ method: 'HEAD', path: `/v2/${repo}/blobs/${digest}` })
    await res.body.dump()
    if (res.status === 404) return undefined
    await expectStatus(res, [200], `HEAD blob ${digest} of ${repo}`)
    const length = header(res, 'content-length')
    return { size: length === undefined ? undefined : Number(length) }
  }

  /** POST an upload; returns its absolute Location. */
  async startUpload(repo: string): Promise<string> {
    const res = await this.send({
      method: 'POST',
      path: `/v2/${repo}/blobs/uploads/`,
      headers: { 'content-length': '0' },
    })
    await expectStatus(res, [202], `POST upload to ${repo}`)
    await res.body.dump()
    const location = header(res, 'location')
    if (!location) throw new RegistryError('PROTOCOL', `POST upload to ${repo}: 202 without a Location`)
    return new URL(location, res.url).href
  }

  /**
   * PATCH data into an upload: a stream without a length goes as one chunked body (docker's streamed push).
   * Returns the next Location and the Range the registry holds.
   */
  async patchUpload(
    location: string,
    body: RequestBody,
    repo: string,
  ): Promise<{ location: string; range: string | undefined }> {
    const res = await this.send({
      method: 'PATCH',
      path: location,
      headers: { 'content-type': 'application/octet-stream' },
      body,
      scopes: [`repository:${repo}:pull,push`],
    })
    await expectStatus(res, [202], `PATCH upload to ${repo}`)
    await res.body.dump()
    const next = header(res, 'location')
    return { location: next ? new URL(next, res.url).href : location, range: header(res, 'range') }
  }

  /** PUT ?digest= closing an upload, with the last (or only) data when given; returns the digest. */
  async finishUpload(
    location: string,
    digest: string,
    repo: string,
    data?: { body: RequestBody; size: number },
  ): Promise<string> {
    const res = await this.send({
      method: 'PUT',
      path: withDigest(location, digest),
      headers: data
        ? { 'content-type': 'application/octet-stream', 'content-length': String(data.size) }
        : { 'content-length': '0' },
      ...(data ? { body: data.body } : {}),
      scopes: [`repository:${repo}:pull,push`],
    })
    await expectCreated(res, digest, `PUT upload to ${repo}`)
    return digest
  }

  /** A monolithic push of bytes: POST, then PUT ?digest= with the data. Returns the digest. */
  async pushBlob(repo: string, data: Buffer): Promise<string> {
    const location = await this.startUpload(repo)
    return this.finishUpload(location, sha256(data), repo, { body: data, size: data.byteLength })
  }

  /** docker's streamed push: POST, one chunked PATCH with the whole stream, PUT ?digest= with no body. */
  async pushBlobStream(repo: string, stream: Readable, digest: string): Promise<string> {
    const location = await this.startUpload(repo)
    const patched = await this.patchUpload(location, stream, repo)
    return this.finishUpload(patched.location, digest, repo)
  }

  async #follow(req: SendOptions, start: URL, headers: Record<string, string | string[]>): Promise<RegistryResponse> {
    const follow = req.follow ?? (req.method === 'GET' || req.method === 'HEAD')
    const timeout = req.timeoutMs ?? this.#o.timeoutMs ?? DEFAULT_TIMEOUT_MS
    let url = start
    let hdrs = headers
    for (let hop = 0; ; hop++) {
      const res = await this.#dispatcher(url.origin).request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: req.method,
        headers: hdrs,
        ...(req.body !== undefined && hop === 0 ? { body: req.body } : {}),
        headersTimeout: timeout,
        bodyTimeout: timeout,
      })
      const location = res.headers.location
      if (!follow || !REDIRECTS.has(res.statusCode) || typeof location !== 'string') {
        return { status: res.statusCode, headers: res.headers, body: res.body, url }
      }
      await res.body.dump()
      if (hop >= MAX_REDIRECTS)
        throw new RegistryError('REDIRECT', `${this.url.origin} redirected more than ${MAX_REDIRECTS} times`, {
          status: res.statusCode,
        })
      url = new URL(location, url)
      if (url.protocol !== 'https:' && url.protocol !== 'http:')
        throw new RegistryError('REDIRECT', `${this.url.origin} redirected to a non-HTTP URL`, {
          status: res.statusCode,
        })
      if (url.origin !== this.url.origin)
        hdrs = Object.fromEntries(Object.entries(hdrs).filter(([k]) => k.toLowerCase() !== 'authorization'))
    }
  }

  #dispatcher(origin: string): Dispatcher {
    const d = this.#o.dispatcher
    return typeof d === 'function' ? d(origin) : d
  }
}

/** The OCI error body's codes and messages, from at most 64 KiB of the body (which is consumed). */
export async function readErrorBody(
  body: Dispatcher.ResponseData['body'],
): Promise<{ text: string; codes: string[]; messages: string[] }> {
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of body) {
      const buf = chunk as Buffer
      if (size < ERROR_BODY_MAX) chunks.push(buf)
      size += buf.byteLength
    }
  } catch {
    // a broken error body still leaves the status to report
  }
  const text = Buffer.concat(chunks).subarray(0, ERROR_BODY_MAX).toString('utf8')
  const codes: string[] = []
  const messages: string[] = []
  try {
    const doc = JSON.parse(text) as { errors?: unknown }
    if (Array.isArray(doc.errors))
      for (const e of doc.errors as { code?: unknown; message?: unknown }[]) {
        if (typeof e?.code === 'string') codes.push(e.code)
        if (typeof e?.message === 'string' && e.message) messages.push(e.message.slice(0, 200))
      }
  } catch {
    // not an OCI error body
  }
  return { text, codes, messages }
}

/** Throws a RegistryError (with the body's OCI codes) unless the status is one of `allowed`. */
export async function expectStatus(res: RegistryResponse, allowed: readonly number[], what: string): Promise<void> {
  if (allowed.includes(res.status)) return
  const { text, codes, messages } = await readErrorBody(res.body)
  const said = messages[0] ?? text.trim().slice(0, 200)
  throw new RegistryError(
    'STATUS',
    `${what}: ${res.status}${codes[0] ? ` ${codes[0]}` : ''}${said ? `: ${said}` : ''}`,
    {
      status: res.status,
      codes,
      messages,
    },
  )
}

async function expectCreated(res: RegistryResponse, digest: string, what: string): Promise<void> {
  await expectStatus(res, [201], what)
  await res.body.dump()
  const got = header(res, 'docker-content-digest')
  if (got !== digest)
    throw new RegistryError('PROTOCOL', `${what}: Docker-Content-Digest "${got ?? ''}", expected ${digest}`, {
      status: res.status,
    })
}

function header(res: { headers: IncomingHttpHeaders }, name: string): string | undefined {
  const v = res.headers[name]
  return Array.isArray(v) ? v[0] : v
}

/** Appends digest= to an upload location, keeping its own query (distribution's _state) byte for byte. */
function withDigest(location: string, digest: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`
}
