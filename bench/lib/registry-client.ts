/**
 * The client half of blob benchmarks: pushes and pulls the way real clients do, streaming from and to files so the
 * client's memory never holds a blob. Any unexpected status throws with the server's (truncated) answer.
 *
 * - pushStreamed: docker's push (protocol.md §1.5, §5): POST, ONE PATCH with the whole file as a chunked body (no
 *   Content-Length, no Content-Range), then PUT ?digest= with an empty body.
 * - pushMonolithic: POST, then PUT ?digest= carrying the whole file with Content-Length.
 * - pull: GET, body streamed through sha256 into /dev/null, digest and size checked.
 * Registries with docker token auth (Wharf) get a bearer token per repository before the timed requests, from
 * oci/token-client.ts (kept until shortly before it expires).
 */
import { createHash } from 'node:crypto'
import { closeSync, createReadStream, openSync, writeSync } from 'node:fs'
import { Agent, request, type Dispatcher } from 'undici'
import { parseBearerChallenge } from '../../oci/challenge.ts'
import { TokenClient } from '../../oci/token-client.ts'
import type { BlobFile } from './blob-file.ts'
import { MiB } from './units.ts'

export interface PushTiming {
  method: 'streamed' | 'monolithic'
  bytes: number
  /** POST to the PUT's answer: what a client waits for. */
  ms: number
  postMs: number
  /** The PATCH carrying the data (streamed push only). */
  patchMs?: number
  /** The closing PUT (with the data for a monolithic push, empty for a streamed one). */
  putMs: number
}

export interface PullTiming {
  bytes: number
  /** Request sent to last byte hashed. */
  ms: number
  /** Request sent to response headers. */
  headersMs: number
  /** Whether the content was hashed and matched the digest. */
  verified: boolean
}

export interface Credentials {
  username: string
  password: string
}

export interface ClientOptions {
  /** For registries with docker token auth (Wharf): basic credentials sent to the challenge's realm. */
  credentials?: Credentials
  /** highWaterMark of the file streams the pushes read: 1 MiB, so the client is not the bottleneck. */
  readHighWaterMark?: number
  /** Upper bound for any single request; blobs of several GiB on a slow server need minutes. */
  timeoutMs?: number
  /** Connections per origin in the client's pool (default 4); concurrent-GET scenarios need one per request. */
  connections?: number
}

/** Raised for an answer the protocol does not allow at that step. */
export class RegistryProtocolError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`${message}: HTTP ${status}${body ? ` ${body}` : ''}`)
  }
}

/** One registry's blob endpoints over a dedicated keep-alive connection pool. */
export class RegistryClient {
  readonly baseUrl: string
  readonly #agent: Agent
  readonly #hwm: number
  readonly #timeoutMs: number
  /** The Bearer challenge of GET /v2/: undefined until pinged, null when the registry needs no token. */
  #challenge: { realm: string; service?: string } | null | undefined
  readonly #tokens: TokenClient

  constructor(baseUrl: string, opts: ClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '')
    this.#timeoutMs = opts.timeoutMs ?? 10 * 60_000
    this.#hwm = opts.readHighWaterMark ?? MiB
    this.#agent = new Agent({
      headersTimeout: this.#timeoutMs,
      bodyTimeout: this.#timeoutMs,
      connections: opts.connections ?? 4,
    })
    this.#tokens = new TokenClient({
      dispatcher: this.#agent,
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      timeoutMs: this.#timeoutMs,
    })
  }

  async close(): Promise<void> {
    await this.#agent.close()
  }

  /** docker push: POST, one chunked PATCH with the whole file, PUT ?digest= with no body. */
  async pushStreamed(repo: string, blob: BlobFile): Promise<PushTiming> {
    // the token comes first, as docker gets it before the upload: a streamed body cannot be replayed after a 401
    const auth = await this.authHeaders(repo)
    const t0 = performance.now()
    const location = await this.#startUpload(repo, auth)
    const t1 = performance.now()
    const patch = await this.#send(location, {
      method: 'PATCH',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      // a stream without a length: undici sends it with Transfer-Encoding: chunked, as docker does
      body: createReadStream(blob.path, { highWaterMark: this.#hwm }),
    })
    await expectStatus(patch, 202, `PATCH ${repo} upload`)
    await patch.body.dump()
    const range = header(patch, 'range')
    const wantRange = `0-${Math.max(blob.size - 1, 0)}`
    if (range !== wantRange) throw new Error(`PATCH answered Range "${range}", expected "${wantRange}"`)
    const next = header(patch, 'location') ?? location
    const t2 = performance.now()
    const put = await this.#send(withDigest(this.#resolve(next), blob.digest), {
      method: 'PUT',
      headers: { ...auth, 'content-length': '0' },
    })
    await expectCreated(put, blob.digest, `PUT ${repo} upload`)
    const t3 = performance.now()
    return { method: 'streamed', bytes: blob.size, ms: t3 - t0, postMs: t1 - t0, patchMs: t2 - t1, putMs: t3 - t2 }
  }

  /** Monolithic push: POST, then PUT ?digest= carrying the whole file with its Content-Length. */
  async pushMonolithic(repo: string, blob: BlobFile): Promise<PushTiming> {
    const auth = await this.authHeaders(repo)
    const t0 = performance.now()
    const location = await this.#startUpload(repo, auth)
    const t1 = performance.now()
    const put = await this.#send(withDigest(location, blob.digest), {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
      body: createReadStream(blob.path, { highWaterMark: this.#hwm }),
    })
    await expectCreated(put, blob.digest, `PUT ${repo} monolithic upload`)
    const t2 = performance.now()
    return { method: 'monolithic', bytes: blob.size, ms: t2 - t0, postMs: t1 - t0, putMs: t2 - t1 }
  }

  /**
   * GET a blob, streaming it through sha256 into /dev/null; throws on a wrong status, size or digest. With
   * `verify: false` the bytes are only counted (no hash), which shows the server's ceiling rather than the client's.
   *
   * A plain for-await loop with writeSync to /dev/null: on the 2-core machine a Transform + fs.WriteStream pipeline
   * cost the client ~1 CPU-second more per GiB and capped verified pulls at ~400 MB/s instead of ~650 MB/s.
   */
  async pull(
    repo: string,
    digest: string,
    opts: { expectedSize?: number; verify?: boolean } = {},
  ): Promise<PullTiming> {
    const { expectedSize, verify = true } = opts
    const auth = await this.authHeaders(repo)
    const t0 = performance.now()
    const res = await this.#send(`${this.baseUrl}/v2/${repo}/blobs/${digest}`, { method: 'GET', headers: auth })
    const headersMs = performance.now() - t0
    await expectStatus(res, 200, `GET ${repo} blob`)
    const length = header(res, 'content-length')
    if (expectedSize !== undefined && length !== undefined && Number(length) !== expectedSize) {
      res.body.destroy()
      throw new Error(`GET ${repo} blob: Content-Length ${length}, expected ${expectedSize}`)
    }
    const hash = verify ? createHash('sha256') : undefined
    let bytes = 0
    const devNull = openSync('/dev/null', 'w')
    try {
      for await (const chunk of res.body) {
        const buf = chunk as Buffer
        bytes += buf.byteLength
        hash?.update(buf)
        writeSync(devNull, buf)
      }
    } finally {
      closeSync(devNull)
    }
    const ms = performance.now() - t0
    if (expectedSize !== undefined && bytes !== expectedSize) {
      throw new Error(`GET ${repo} blob: received ${bytes} bytes, expected ${expectedSize}`)
    }
    const got = hash ? `sha256:${hash.digest('hex')}` : undefined
    if (got !== undefined && got !== digest)
      throw new Error(`GET ${repo} blob: content hashes to ${got}, expected ${digest}`)
    return { bytes, ms, headersMs, verified: got !== undefined }
  }

  /**
   * GET /v2/: 200 (no auth) or 401 with a Bearer challenge, which is remembered for authHeaders(). Other answers
   * throw.
   */
  async ping(): Promise<number> {
    const res = await this.#send(`${this.baseUrl}/v2/`, { method: 'GET' })
    await res.body.dump()
    if (res.statusCode === 200) {
      this.#challenge = null
    } else if (res.statusCode === 401) {
      const challenge = parseBearerChallenge(res.headers['www-authenticate'])
      if (!challenge) throw new Error(`GET /v2/: 401 without a Bearer challenge (${header(res, 'www-authenticate')})`)
      this.#challenge = challenge
    } else {
      throw new RegistryProtocolError('GET /v2/', res.statusCode, '')
    }
    return res.statusCode
  }

  /**
   * The Authorization header for pulling and pushing `repo`: none when the registry needs no token, otherwise a
   * bearer token from the challenge's realm (docker's flow: basic credentials, scope repository:<repo>:pull,push),
   * cached until shortly before it expires.
   */
  async authHeaders(repo: string): Promise<Record<string, string>> {
    if (this.#challenge === undefined) await this.ping()
    const challenge = this.#challenge
    if (!challenge) return {}
    const token = await this.#tokens.token(challenge, [`repository:${repo}:pull,push`])
    return { authorization: `Bearer ${token}` }
  }

  /** Monolithic push of a small in-memory blob (an image config); no timing. */
  async pushBytes(repo: string, data: Buffer): Promise<string> {
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`
    const auth = await this.authHeaders(repo)
    const location = await this.#startUpload(repo, auth)
    const put = await this.#send(withDigest(location, digest), {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/octet-stream', 'content-length': String(data.byteLength) },
      body: data,
    })
    await expectCreated(put, digest, `PUT ${repo} small blob`)
    return digest
  }

  /** PUT a manifest under a tag (or digest); returns its digest. */
  async putManifest(repo: string, reference: string, body: Buffer, mediaType: string): Promise<string> {
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`
    const auth = await this.authHeaders(repo)
    const res = await this.#send(`${this.baseUrl}/v2/${repo}/manifests/${reference}`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': mediaType, 'content-length': String(body.byteLength) },
      body,
    })
    await expectCreated(res, digest, `PUT ${repo} manifest ${reference}`)
    return digest
  }

  /** GET a manifest with an Accept header; returns its body (throws on anything but 200). */
  async getManifest(repo: string, reference: string, accept: string): Promise<Buffer> {
    const auth = await this.authHeaders(repo)
    const res = await this.#send(`${this.baseUrl}/v2/${repo}/manifests/${reference}`, {
      method: 'GET',
      headers: { ...auth, accept },
    })
    await expectStatus(res, 200, `GET ${repo} manifest ${reference}`)
    return Buffer.from(await res.body.arrayBuffer())
  }

  async #startUpload(repo: string, auth: Record<string, string>): Promise<string> {
    const post = await this.#send(`${this.baseUrl}/v2/${repo}/blobs/uploads/`, {
      method: 'POST',
      headers: { ...auth, 'content-length': '0' },
    })
    await expectStatus(post, 202, `POST ${repo} upload`)
    await post.body.dump()
    const location = header(post, 'location')
    if (!location) throw new Error(`POST ${repo} upload: 202 without Location`)
    return this.#resolve(location)
  }

  #resolve(location: string): string {
    return new URL(location, `${this.baseUrl}/`).href
  }

  #send(url: string, opts: Omit<Dispatcher.RequestOptions, 'origin' | 'path'>): Promise<Dispatcher.ResponseData> {
    return request(url, { ...opts, dispatcher: this.#agent })
  }
}

/** Appends digest= to an upload location, keeping its own query (distribution's _state) byte for byte. */
function withDigest(location: string, digest: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`
}

function header(res: Dispatcher.ResponseData, name: string): string | undefined {
  const v = res.headers[name]
  return Array.isArray(v) ? v[0] : v
}

async function expectStatus(res: Dispatcher.ResponseData, status: number, what: string): Promise<void> {
  if (res.statusCode === status) return
  throw new RegistryProtocolError(what, res.statusCode, await readSome(res))
}

async function expectCreated(res: Dispatcher.ResponseData, digest: string, what: string): Promise<void> {
  await expectStatus(res, 201, what)
  await res.body.dump()
  const got = header(res, 'docker-content-digest')
  if (got !== digest) throw new Error(`${what}: Docker-Content-Digest "${got}", expected ${digest}`)
}

/** At most 2 KiB of an error body, for messages; the rest is discarded. */
async function readSome(res: Dispatcher.ResponseData): Promise<string> {
  let text = ''
  try {
    for await (const chunk of res.body) {
      text += (chunk as Buffer).toString('utf8')
      if (text.length >= 2048) break
    }
  } catch {
    // the body broke off; what we have is enough for a message
  }
  res.body.destroy()
  return text.slice(0, 2048).trim()
}
