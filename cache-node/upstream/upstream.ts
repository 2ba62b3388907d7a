import type { IncomingHttpHeaders } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import pLimit, { type LimitFunction } from 'p-limit'
import type { Logger } from 'pino'
import { Pool, type Dispatcher } from 'undici'
import { parseBearerChallenge } from '../../oci/challenge.ts'
import { OCI_ERRORS, OciError, type OciErrorCode } from '../../oci/errors.ts'
import { readErrorBody, RegistryClient, RegistryError } from '../../oci/registry-client.ts'
import { TokenClient, TokenError } from '../../oci/token-client.ts'
import type { UpstreamConfig } from '../config.ts'
import { UpstreamError } from '../errors.ts'

/**
 * How a request authenticates upstream: the caller's own bearer token (wharf upstreams), a blob grant the origin
 * signed (wharf upstreams; sent as `?grant=`, with no Authorization), or anonymously.
 */
export type UpstreamAuth =
  { kind: 'forward'; authorization: string | undefined } | { kind: 'grant'; grant: string } | { kind: 'anonymous' }

export interface UpstreamRequest {
  method: 'GET' | 'HEAD'
  /** `/v2/...`, query included. */
  path: string
  /** The upstream-side repository (the scope of a foreign token). */
  repository: string
  headers?: Record<string, string>
  auth: UpstreamAuth
  /** The error a 404 becomes when the upstream's body names none: BLOB_UNKNOWN, MANIFEST_UNKNOWN or NAME_UNKNOWN. */
  notFound: OciErrorCode
  /** What is asked for, in error messages ("blob sha256:… of library/busybox"). */
  what: string
  /** Retry 5xx answers and connection failures (default true). */
  retry?: boolean
}

export interface UpstreamResponse {
  status: number
  headers: IncomingHttpHeaders
  body: Dispatcher.ResponseData['body']
}

export interface UpstreamOptions {
  /** Requests in flight at once; more wait their turn. */
  concurrency: number
  timeoutMs: number
  retries: number
  /** Follows redirects to other hosts (CDNs) and reaches foreign token realms. */
  agent: Dispatcher
  log: Logger
  now: () => number
  /** For a wharf upstream: the token realm it must challenge with before it is sent any caller's token. */
  expectedRealm?: () => Promise<string>
  /** Pause before retry n (1-based), in milliseconds. */
  backoffMs?: (attempt: number) => number
  /**
   * For a wharf upstream: the `Wharf-Fill` header value sent on every request (this site's id, or `1` before it
   * joined), so the origin never redirects this cache to a cache.
   */
  fillHeader?: () => string
}

const UNTRUSTED_RECHECK_MS = 60_000

/**
 * One upstream registry: an undici Pool, a p-limit bound on requests in flight, retries of idempotent requests
 * that failed before their body, and the one place where upstream failures become the errors clients see.
 * Redirects (without Authorization across hosts) and the anonymous token dance with foreign registries are the
 * shared registry client's (oci/registry-client.ts), which sends through this upstream's pool for its own origin
 * and through the shared agent for CDNs and token realms; the cache never sends a caller's credentials to a
 * foreign registry, so the tokens it holds for one are only ever what that registry gives everybody.
 *
 * Retries stay a loop here rather than undici's retry interceptor: that one also resumes a body broken mid-way
 * with a Range request inside the same response, and a fill already resumes itself from what it has verified on
 * disk (services/fill.ts) and must see the break to do so; retrying only before the body keeps one owner of each
 * byte offset.
 */
export class Upstream {
  readonly key: string
  readonly url: URL
  readonly kind: 'wharf' | 'foreign'
  /** The URL's origin, as messages and metrics name the upstream. */
  readonly name: string
  readonly #pool: Pool
  readonly #limit: LimitFunction
  readonly #opts: UpstreamOptions
  readonly #client: RegistryClient
  #trusted: Promise<void> | undefined
  #untrustedAt = 0

  constructor(cfg: UpstreamConfig, opts: UpstreamOptions) {
    this.key = cfg.key
    this.url = cfg.url
    this.kind = cfg.kind
    this.name = cfg.url.origin
    this.#opts = opts
    this.#limit = pLimit(opts.concurrency)
    // Fills read bodies with backpressure (a chunk is on disk before the next is taken). undici 7 crashed the
    // process when an upstream closed the connection while that had its parser paused (nodejs/undici#5360);
    // patches/undici+7.30.2.patch carries the upstream fix, as undici 8 (which has it) needs Node 22.19: see
    // patches/README.md for why a patch rather than reading without backpressure or another client.
    this.#pool = new Pool(cfg.url.origin, {
      connections: opts.concurrency,
      keepAliveTimeout: 30_000,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      connect: { timeout: Math.min(opts.timeoutMs, 30_000) },
    })
    this.#client = new RegistryClient({
      url: cfg.url,
      // the sized pool for the upstream itself; redirects to CDNs go through the shared agent
      dispatcher: (origin) => (origin === cfg.url.origin ? this.#pool : opts.agent),
      tokens: new TokenClient({
        dispatcher: opts.agent,
        now: opts.now,
        timeoutMs: opts.timeoutMs,
        userAgent: 'wharf-cache',
      }),
      timeoutMs: opts.timeoutMs,
      userAgent: 'wharf-cache',
      headers: () => this.#fill(),
    })
  }

  /** Requests holding one of the concurrency slots now. */
  get active(): number {
    return this.#limit.activeCount
  }

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.#limit.pendingCount
  }

  /**
   * Sends a request and hands a 2xx response to `handle`, which must consume or dump the body; the request's
   * concurrency slot is held until `handle` settles, so a fill counts against the bound for as long as it
   * streams. Any other answer, and any network failure, is thrown as the OciError or UpstreamError the client
   * should see. Failures before the body are retried; errors thrown by `handle` are not.
   */
  request<T>(req: UpstreamRequest, handle: (res: UpstreamResponse) => Promise<T>): Promise<T> {
    return this.#limit(async () => {
      if (req.auth.kind === 'forward' && req.auth.authorization) await this.#ensureTrusted()
      const retries = req.retry === false ? 0 : this.#opts.retries
      for (let attempt = 0; ; attempt++) {
        let res: UpstreamResponse
        try {
          res = await this.#send(req)
        } catch (err) {
          const translated = this.translate(err, req.what)
          if (attempt < retries && translated instanceof UpstreamError && translated.code !== 'UPSTREAM_INVALID') {
            this.#opts.log.warn(
              { upstream: this.name, path: req.path, attempt: attempt + 1, err: translated },
              'upstream request failed; retrying',
            )
            await sleep(this.#backoff(attempt + 1))
            continue
          }
          throw translated
        }
        if (res.status >= 200 && res.status < 300) return handle(res)
        const said = await readErrorBody(res.body)
        if (res.status >= 500 && attempt < retries) {
          this.#opts.log.warn(
            { upstream: this.name, path: req.path, status: res.status, attempt: attempt + 1 },
            'upstream answered 5xx; retrying',
          )
          await sleep(this.#backoff(attempt + 1))
          continue
        }
        throw this.#statusError(res, said, req)
      }
    })
  }

  /** Turns a network or undici failure into the UpstreamError a client sees (errors already translated pass). */
  translate(err: unknown, what: string): Error {
    if (err instanceof OciError || err instanceof UpstreamError) return err
    if (err instanceof RegistryError) return new UpstreamError('UPSTREAM_INVALID', this.name, `upstream ${err.message}`)
    if (err instanceof TokenError) return this.#tokenError(err)
    const code = (err as { code?: string } | undefined)?.code ?? ''
    if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
      return new UpstreamError(
        'UPSTREAM_TIMEOUT',
        this.name,
        `upstream ${this.name} did not answer in time for ${what} (${code})`,
        { cause: err },
      )
    }
    const reason = code || (err as Error | undefined)?.message || 'unknown error'
    return new UpstreamError(
      'UPSTREAM_UNAVAILABLE',
      this.name,
      `upstream ${this.name} could not be reached for ${what} (${reason})`,
      { cause: err },
    )
  }

  async close(): Promise<void> {
    await this.#pool.close()
  }

  #send(req: UpstreamRequest): Promise<UpstreamResponse> {
    const headers: Record<string, string> = { ...req.headers }
    let path = req.path
    if (req.auth.kind === 'forward') {
      if (req.auth.authorization) headers.authorization = req.auth.authorization
    } else if (req.auth.kind === 'grant') {
      // the grant is the only credential: the origin (or a parent cache) accepts it for exactly this blob
      path = `${path}${path.includes('?') ? '&' : '?'}grant=${encodeURIComponent(req.auth.grant)}`
    }
    return this.#client.send({
      method: req.method,
      path,
      headers,
      scopes: [`repository:${req.repository}:pull`],
      // only an anonymous request does the token dance: a caller's token is its own, a grant is complete
      token: req.auth.kind === 'anonymous',
    })
  }

  /** A foreign token realm's failure, as the client is told it. */
  #tokenError(err: TokenError): UpstreamError {
    const up = this.name
    switch (err.code) {
      case 'TOKEN_REALM_INVALID':
        return new UpstreamError(
          'UPSTREAM_INVALID',
          up,
          `upstream ${up} challenged with an unusable token realm "${err.realm.slice(0, 100)}"`,
        )
      case 'TOKEN_UNAVAILABLE':
        return new UpstreamError(
          'UPSTREAM_UNAVAILABLE',
          up,
          `the token service of upstream ${up} (${originOf(err.realm)}) could not be reached`,
          { cause: err.cause },
        )
      default:
        return new UpstreamError(
          'UPSTREAM_INVALID',
          up,
          `the token service of upstream ${up} answered ${err.status ?? 'nothing'} without a token`,
        )
    }
  }

  #statusError(res: UpstreamResponse, said: { codes: string[]; messages: string[] }, req: UpstreamRequest): Error {
    const status = res.status
    const upstreamCode = said.codes[0]
    const suffix = said.messages[0] ? `: ${said.messages[0]}` : ''
    if (status === 404) {
      const code =
        upstreamCode === 'BLOB_UNKNOWN' || upstreamCode === 'MANIFEST_UNKNOWN' || upstreamCode === 'NAME_UNKNOWN'
          ? upstreamCode
          : req.notFound
      return new OciError(code, `${req.what} is not known upstream (${this.name})${suffix}`, { status: 404 })
    }
    if (status === 401) {
      if (this.kind === 'foreign') {
        return new OciError(
          'DENIED',
          `upstream ${this.name} does not serve ${req.what} anonymously; this cache only serves what a foreign registry gives everybody`,
        )
      }
      return new OciError('UNAUTHORIZED', `upstream ${this.name} refused the token for ${req.what}${suffix}`)
    }
    if (status === 403) return new OciError('DENIED', `upstream ${this.name} denied access to ${req.what}${suffix}`)
    if (status === 429) {
      const retryAfter = res.headers['retry-after']
      return new OciError('TOOMANYREQUESTS', `upstream ${this.name} is rate-limiting this cache${suffix}`, {
        headers: typeof retryAfter === 'string' ? { 'Retry-After': retryAfter } : {},
      })
    }
    if (status >= 400 && status < 500 && upstreamCode && upstreamCode in OCI_ERRORS) {
      return new OciError(upstreamCode as OciErrorCode, `upstream ${this.name} refused ${req.what}${suffix}`, {
        status,
      })
    }
    if (status >= 500) {
      return new UpstreamError(
        'UPSTREAM_UNAVAILABLE',
        this.name,
        `upstream ${this.name} answered ${status} for ${req.what}${suffix}`,
        { detail: { status } },
      )
    }
    return new UpstreamError(
      'UPSTREAM_INVALID',
      this.name,
      `upstream ${this.name} answered an unexpected ${status} for ${req.what}${suffix}`,
      { detail: { status } },
    )
  }

  /**
   * A caller's token goes only to a registry that trusts the same origin: its own challenge must name the origin's
   * token realm (the origin itself, or a Wharf cache in front of it). Checked once; a registry found untrusted is
   * checked again after a minute. This keeps a misconfigured CACHE_UPSTREAM_URL from receiving users' tokens.
   */
  #ensureTrusted(): Promise<void> {
    const expected = this.#opts.expectedRealm
    if (!expected) return Promise.resolve()
    if (this.#trusted && this.#untrustedAt !== 0 && this.#opts.now() - this.#untrustedAt > UNTRUSTED_RECHECK_MS)
      this.#trusted = undefined
    if (!this.#trusted) {
      const check = (async () => {
        const realm = await expected()
        let res: UpstreamResponse
        try {
          res = await this.#client.send({ method: 'GET', path: '/v2/', token: false })
        } catch (err) {
          throw this.translate(err, 'its /v2/ challenge')
        }
        await res.body.dump()
        const challenge = parseBearerChallenge(res.headers['www-authenticate'])
        if (res.status !== 200 && res.status !== 401) {
          // not a verdict: a parent cache that cannot reach the origin yet answers 502, say
          throw new UpstreamError(
            'UPSTREAM_UNAVAILABLE',
            this.name,
            `upstream ${this.name} answered ${res.status} to GET /v2/`,
          )
        }
        if (res.status !== 401 || challenge?.realm !== realm) {
          this.#untrustedAt = this.#opts.now()
          throw new UpstreamError(
            'UPSTREAM_UNTRUSTED',
            this.name,
            `upstream ${this.name} does not take the origin's tokens (its /v2/ answered ${res.status} with realm "${challenge?.realm ?? ''}", not "${realm}"); ` +
              'list other registries in CACHE_UPSTREAMS, and use CACHE_UPSTREAM_URL only for the origin or a Wharf cache',
          )
        }
        this.#untrustedAt = 0
      })()
      this.#trusted = check
      // a failure to reach it (not a verdict) is not remembered
      check.catch((err: unknown) => {
        if (!(err instanceof UpstreamError && err.code === 'UPSTREAM_UNTRUSTED') && this.#trusted === check)
          this.#trusted = undefined
      })
    }
    return this.#trusted
  }

  #fill(): Record<string, string> {
    return this.#opts.fillHeader ? { 'wharf-fill': this.#opts.fillHeader() } : {}
  }

  #backoff(attempt: number): number {
    return this.#opts.backoffMs ? this.#opts.backoffMs(attempt) : Math.min(100 * 4 ** (attempt - 1), 2000)
  }
}

function originOf(realm: string): string {
  try {
    return new URL(realm).origin
  } catch {
    return realm.slice(0, 100)
  }
}
