/**
 * The client half of blob benchmarks: pushes and pulls the way real clients do, streaming from and to files so the
 * client's memory never holds a blob, timed step by step. The protocol is oci/registry-client.ts's (the same client
 * the cache's upstreams and the tests use); any answer a step does not allow throws its RegistryError.
 *
 * - pushStreamed: docker's push (protocol.md §1.5, §5): POST, ONE PATCH with the whole file as a chunked body (no
 *   Content-Length, no Content-Range), then PUT ?digest= with an empty body.
 * - pushMonolithic: POST, then PUT ?digest= carrying the whole file with Content-Length.
 * - pull: GET, body streamed through sha256 into /dev/null, digest and size checked.
 * Registries with docker token auth (Wharf) get their bearer tokens per repository before the timed requests
 * (kept until shortly before they expire), as docker holds one before it pushes or pulls.
 */
import { createHash } from 'node:crypto'
import { closeSync, createReadStream, openSync, writeSync } from 'node:fs'
import { Agent } from 'undici'
import { RegistryClient as OciRegistryClient, RegistryError } from '../../oci/registry-client.ts'
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

/** One registry's blob endpoints over a dedicated keep-alive connection pool. */
export class BenchClient {
  readonly baseUrl: string
  readonly #agent: Agent
  readonly #hwm: number
  readonly #client: OciRegistryClient

  constructor(baseUrl: string, opts: ClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '')
    const timeoutMs = opts.timeoutMs ?? 10 * 60_000
    this.#hwm = opts.readHighWaterMark ?? MiB
    this.#agent = new Agent({ headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connections: opts.connections ?? 4 })
    this.#client = new OciRegistryClient({
      url: this.baseUrl,
      dispatcher: this.#agent,
      tokens: new TokenClient({
        dispatcher: this.#agent,
        ...(opts.credentials ? { credentials: opts.credentials } : {}),
        timeoutMs,
      }),
      timeoutMs,
    })
  }

  async close(): Promise<void> {
    await this.#agent.close()
  }

  /** docker push: POST, one chunked PATCH with the whole file, PUT ?digest= with no body. */
  async pushStreamed(repo: string, blob: BlobFile): Promise<PushTiming> {
    // the tokens come first, as docker gets its token before the upload
    await this.authHeaders(repo)
    const t0 = performance.now()
    const location = await this.#client.startUpload(repo)
    const t1 = performance.now()
    // a stream without a length: undici sends it with Transfer-Encoding: chunked, as docker does
    const patched = await this.#client.patchUpload(
      location,
      createReadStream(blob.path, { highWaterMark: this.#hwm }),
      repo,
    )
    const wantRange = `0-${Math.max(blob.size - 1, 0)}`
    if (patched.range !== wantRange) throw new Error(`PATCH answered Range "${patched.range}", expected "${wantRange}"`)
    const t2 = performance.now()
    await this.#client.finishUpload(patched.location, blob.digest, repo)
    const t3 = performance.now()
    return { method: 'streamed', bytes: blob.size, ms: t3 - t0, postMs: t1 - t0, patchMs: t2 - t1, putMs: t3 - t2 }
  }

  /** Monolithic push: POST, then PUT ?digest= carrying the whole file with its Content-Length. */
  async pushMonolithic(repo: string, blob: BlobFile): Promise<PushTiming> {
    await this.authHeaders(repo)
    const t0 = performance.now()
    const location = await this.#client.startUpload(repo)
    const t1 = performance.now()
    await this.#client.finishUpload(location, blob.digest, repo, {
      body: createReadStream(blob.path, { highWaterMark: this.#hwm }),
      size: blob.size,
    })
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
    await this.authHeaders(repo)
    const t0 = performance.now()
    const res = await this.#client.getBlob(repo, digest)
    const headersMs = performance.now() - t0
    const length = res.headers['content-length']
    if (expectedSize !== undefined && typeof length === 'string' && Number(length) !== expectedSize) {
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

  /** GET /v2/: 200 (no auth) or 401 with a Bearer challenge, which is remembered. Other answers throw. */
  async ping(): Promise<number> {
    const { status, challenge, headers } = await this.#client.ping()
    if (status === 401 && !challenge)
      throw new Error(`GET /v2/: 401 without a Bearer challenge (${String(headers['www-authenticate'])})`)
    if (status !== 200 && status !== 401) throw new RegistryError('STATUS', `GET /v2/: ${status}`, { status })
    return status
  }

  /**
   * The Authorization header for pulling and pushing `repo` (none when the registry needs no token). Both tokens a
   * benchmark's requests use (pull, and pull,push) are fetched here, so none is asked for inside a timed request.
   */
  async authHeaders(repo: string): Promise<Record<string, string>> {
    await this.#client.authorization([`repository:${repo}:pull`])
    const auth = await this.#client.authorization([`repository:${repo}:pull,push`])
    return auth ? { authorization: auth } : {}
  }

  /** Monolithic push of a small in-memory blob (an image config); no timing. */
  pushBytes(repo: string, data: Buffer): Promise<string> {
    return this.#client.pushBlob(repo, data)
  }

  /** PUT a manifest under a tag (or digest); returns its digest. */
  putManifest(repo: string, reference: string, body: Buffer, mediaType: string): Promise<string> {
    return this.#client.putManifest(repo, reference, body, mediaType)
  }

  /** GET a manifest with an Accept header; returns its body (throws on anything but 200). */
  async getManifest(repo: string, reference: string, accept: string): Promise<Buffer> {
    return (await this.#client.getManifest(repo, reference, [accept])).body
  }
}
