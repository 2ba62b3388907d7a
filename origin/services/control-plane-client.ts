import { randomUUID } from 'node:crypto'
import { SignJWT } from 'jose'
import { LRUCache } from 'lru-cache'
import type { z } from 'zod'
import { lruClock } from '../../lib/lru-clock.ts'
import type { Logger } from 'pino'
import { Agent, request } from 'undici'
import type { KeyRing } from './keys.ts'
import { SERVICE_TOKEN_KIND } from './tokens.ts'

/** The subject of the JWTs the origin signs for itself. */
export const ORIGIN_SERVICE_SUBJECT = 'wharf-origin'
const SERVICE_TOKEN_TTL_S = 300
/** A service token this close to expiry is replaced before it is sent. */
const SERVICE_TOKEN_RENEW_S = 60
const WARN_EVERY_MS = 30_000

/** The site a caller is assigned to, as the control plane answers a resolve. */
export interface AssignedSite {
  id: string
  name: string
  url: string
  /** The site and its parents, up to the origin: every hop that may accept the grant. */
  chain: string[]
}

export interface Resolution {
  site: AssignedSite | null
  rule: string
  detail: unknown
}

export interface ResolveQuery {
  /** The user; '' for an anonymous caller. */
  user: string
  /** `org/team` names. */
  teams: string[]
  orgs: string[]
  address: string
}

/** A site as the control plane lists it (docs/network-protocol.md); only the fields the origin reads are typed. */
export interface Site {
  id: string
  name: string
  url: string
  region?: string | null
  health?: { state: string; since?: string | null; lastHeartbeatAt?: string | null }
  [field: string]: unknown
}

/** The control plane could not be asked, or answered an error. */
export class ControlPlaneError extends Error {
  readonly status: number | undefined
  readonly code: string | undefined
  constructor(message: string, opts: { status?: number; code?: string } = {}) {
    super(message)
    this.name = 'ControlPlaneError'
    this.status = opts.status
    this.code = opts.code
  }
}

export interface OriginControlPlaneClientOptions {
  /** The control plane's base URL; its API is `<baseUrl>/api/v0`. */
  baseUrl: URL
  keys: KeyRing
  /** The origin's token issuer (`iss`) and service (`aud`) */
  issuer: string
  audience: string
  /** How long a resolve answer is reused. */
  cacheTtlMs: number
  /** Longest wait for a resolve (default 1 s): a blob pull never waits longer for the control plane. */
  resolveTimeoutMs?: number
  /** Longest wait for the management calls (sites, user assignments; default 5 s). */
  apiTimeoutMs?: number
  /** After a failed resolve, no request is made for this long (default 5 s): the origin serves blobs itself. */
  pauseMs?: number
  now: () => number
  log: Logger
}

/**
 * The origin's side of the control plane API: resolving which cache site serves a caller (cached, with a short
 * timeout and a pause after failures, so a slow or absent control plane only ever means "serve it here"), and the
 * sites and user assignments the management API shows. Authenticates with a JWT the origin signs for itself.
 */
export class OriginControlPlaneClient {
  readonly #o: Required<Omit<OriginControlPlaneClientOptions, 'log'>> & { log: Logger }
  readonly #agent = new Agent({ keepAliveTimeout: 10_000, connections: 32 })
  /** Resolve answers, each for `cacheTtlMs` on the injected clock (lru-cache's own expiry, no timers) */
  readonly #cache: LRUCache<string, { value: Resolution; user: string }>
  readonly #inflight = new Map<string, Promise<Resolution | null>>()
  #pausedUntil = -Infinity
  #lastWarn = -Infinity
  #suppressed = 0
  #token: { jwt: string; exp: number; kid: string } | undefined

  constructor(opts: OriginControlPlaneClientOptions) {
    this.#o = { resolveTimeoutMs: 1000, apiTimeoutMs: 5000, pauseMs: 5000, ...opts }
    this.#cache = new LRUCache({ max: 10_000, ttl: Math.max(1, Math.round(opts.cacheTtlMs)), ...lruClock(opts.now) })
  }

  get baseUrl(): URL {
    return this.#o.baseUrl
  }

  /**
   * The site serving this caller, with the rule that chose it. `null` when the control plane cannot tell right
   * now (unreachable, slow, an error, or paused after one): the origin then serves the blob itself.
   * `fresh` skips the cache (the answer is still cached).
   */
  async resolve(q: ResolveQuery, opts: { fresh?: boolean } = {}): Promise<Resolution | null> {
    const teams = [...q.teams].sort()
    const orgs = [...q.orgs].sort()
    const key = JSON.stringify([q.user, teams, orgs, q.address])
    const now = this.#o.now()
    const cached = opts.fresh ? undefined : this.#cache.get(key)
    if (cached) return cached.value
    if (now < this.#pausedUntil) return null
    let pending = this.#inflight.get(key)
    if (!pending) {
      pending = this.#resolve(key, { user: q.user, teams, orgs, address: q.address }).finally(() =>
        this.#inflight.delete(key),
      )
      this.#inflight.set(key, pending)
    }
    return pending
  }

  /** Drops cached answers for a user (their assignment just changed). */
  forgetUser(user: string): void {
    for (const [key, entry] of this.#cache.entries()) if (entry.user === user) this.#cache.delete(key)
  }

  async listSites(): Promise<Site[]> {
    const body = (await this.#call('GET', '/sites', undefined, this.#o.apiTimeoutMs)) as { sites?: unknown }
    if (!body || !Array.isArray(body.sites))
      throw new ControlPlaneError('the control plane answered GET /sites without a list of sites')
    return body.sites.filter(isSite)
  }

  /** One site by id or name; `undefined` when the control plane has none. */
  async getSite(ref: string): Promise<Site | undefined> {
    try {
      const body = await this.#call('GET', `/sites/${encodeURIComponent(ref)}`, undefined, this.#o.apiTimeoutMs)
      if (!isSite(body)) throw new ControlPlaneError('the control plane answered GET /sites/{site} without a site')
      return body
    } catch (err) {
      if (err instanceof ControlPlaneError && err.status === 404) return undefined
      throw err
    }
  }

  /**
   * Creates a site for the system administrator `admin`: the request carries a token the origin mints for that
   * admin alone (`controlplane:admin:*`, one minute), as the admin's own `wharf` CLI would, so the origin's service
   * token keeps its narrow scope and the control plane sees who asked.
   */
  async createSite(admin: string, fields: { name: string; url: string }): Promise<Site> {
    const body = await this.#call('POST', '/sites', fields, this.#o.apiTimeoutMs, admin)
    if (!isSite(body)) throw new ControlPlaneError('the control plane answered POST /sites without a site')
    return body
  }

  /** Removes a site for the system administrator `admin` (see createSite); false when there was none. */
  async deleteSite(admin: string, ref: string): Promise<boolean> {
    try {
      await this.#call('DELETE', `/sites/${encodeURIComponent(ref)}`, undefined, this.#o.apiTimeoutMs, admin)
      return true
    } catch (err) {
      if (err instanceof ControlPlaneError && err.status === 404) return false
      throw err
    }
  }

  /** The site (by name or id, as the control plane keeps it) a user is explicitly assigned to, or null. */
  async getUserAssignment(user: string): Promise<string | null> {
    try {
      const body = (await this.#call(
        'GET',
        `/assignments/user/${encodeURIComponent(user)}`,
        undefined,
        this.#o.apiTimeoutMs,
      )) as {
        site?: unknown
      } | null
      return siteRef(body?.site)
    } catch (err) {
      if (err instanceof ControlPlaneError && err.status === 404) return null
      throw err
    }
  }

  /** Assigns a user to a site (a name or id), or removes the assignment (`null`). */
  async setUserAssignment(user: string, site: string | null): Promise<void> {
    const path = `/assignments/user/${encodeURIComponent(user)}`
    try {
      if (site === null) await this.#call('DELETE', path, undefined, this.#o.apiTimeoutMs)
      else await this.#call('PUT', path, { site }, this.#o.apiTimeoutMs)
    } catch (err) {
      // removing an assignment that was not there leaves what was asked for
      if (!(site === null && err instanceof ControlPlaneError && err.status === 404)) throw err
    } finally {
      this.forgetUser(user)
    }
  }

  /**
   * Any control plane API call for the system administrator `admin` (a token minted for them alone, as createSite
   * does), its answer read with `schema` (control-plane/schemas.ts): an answer of another shape is a
   * ControlPlaneError, not a crash further on.
   */
  async asAdmin<T extends z.ZodType>(
    admin: string,
    schema: T,
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    body?: unknown,
  ): Promise<z.output<T>> {
    const answer = await this.#call(method, path, body, this.#o.apiTimeoutMs, admin)
    const parsed = schema.safeParse(answer)
    if (!parsed.success)
      throw new ControlPlaneError(
        `the control plane answered ${method} ${path.split('?')[0]} in a shape this origin does not know`,
      )
    return parsed.data
  }

  /** A text answer (a CSV report) for the system administrator `admin`. */
  async asAdminText(admin: string, path: string): Promise<string> {
    return (await this.#call('GET', path, undefined, this.#o.apiTimeoutMs, admin, 'text')) as string
  }

  async close(): Promise<void> {
    await this.#agent.close()
  }

  async #resolve(key: string, q: ResolveQuery): Promise<Resolution | null> {
    try {
      const value = parseResolution(await this.#call('POST', '/assignments/resolve', q, this.#o.resolveTimeoutMs))
      if (this.#o.cacheTtlMs > 0) this.#cache.set(key, { value, user: q.user })
      return value
    } catch (err) {
      this.#pausedUntil = this.#o.now() + this.#o.pauseMs
      this.#warn(err)
      return null
    }
  }

  #warn(err: unknown): void {
    const now = this.#o.now()
    if (now - this.#lastWarn < WARN_EVERY_MS) {
      this.#suppressed++
      this.#o.log.debug({ err }, 'control plane resolve failed')
      return
    }
    this.#o.log.warn(
      { err, controlPlane: this.#o.baseUrl.origin, pauseMs: this.#o.pauseMs, suppressed: this.#suppressed },
      'control plane unavailable: serving blobs from the origin',
    )
    this.#lastWarn = now
    this.#suppressed = 0
  }

  async #call(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    body: unknown,
    timeoutMs: number,
    admin?: string,
    answer: 'json' | 'text' = 'json',
  ): Promise<unknown> {
    const base = this.#o.baseUrl.href.replace(/\/+$/, '')
    const url = `${base}/api/v0${path}`
    let res
    try {
      res = await request(url, {
        method,
        dispatcher: this.#agent,
        headers: {
          authorization: `Bearer ${admin === undefined ? await this.#serviceToken() : await this.#adminToken(admin)}`,
          accept: 'application/json',
          'user-agent': 'wharf-origin',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      })
    } catch (err) {
      throw new ControlPlaneError(`${method} ${url}: ${(err as Error).message}`)
    }
    let text: string
    try {
      text = await res.body.text()
    } catch (err) {
      throw new ControlPlaneError(`${method} ${url}: ${(err as Error).message}`)
    }
    if (answer === 'text' && res.statusCode < 300) return text
    let json: unknown = null
    try {
      json = text ? JSON.parse(text) : null
    } catch {
      if (res.statusCode < 300)
        throw new ControlPlaneError(`${method} ${url} answered ${res.statusCode} with a body that is not JSON`)
    }
    if (res.statusCode >= 300) {
      const error = (json as { error?: { code?: unknown; message?: unknown } } | null)?.error
      const code = typeof error?.code === 'string' ? error.code : undefined
      const detail = typeof error?.message === 'string' ? `: ${error.message}` : ''
      throw new ControlPlaneError(`${method} ${url} answered ${res.statusCode}${detail}`, {
        status: res.statusCode,
        code,
      })
    }
    return json
  }

  /** `sub` wharf-origin, access controlplane:origin:*, 5 minutes; renewed a minute before expiry or on key rotation. */
  async #serviceToken(): Promise<string> {
    const now = Math.floor(this.#o.now() / 1000)
    const { kid, key } = this.#o.keys.signing()
    const t = this.#token
    if (t && t.kid === kid && now < t.exp - SERVICE_TOKEN_RENEW_S) return t.jwt
    const exp = now + SERVICE_TOKEN_TTL_S
    const jwt = await new SignJWT({
      kind: SERVICE_TOKEN_KIND,
      access: [{ type: 'controlplane', name: 'origin', actions: ['*'] }],
    })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid })
      .setIssuer(this.#o.issuer)
      .setSubject(ORIGIN_SERVICE_SUBJECT)
      .setAudience(this.#o.audience)
      .setIssuedAt(now)
      .setNotBefore(now - 1)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(key)
    this.#token = { jwt, exp, kid }
    return jwt
  }

  /**
   * A token for the system administrator `admin`, minted only for a request that admin made on the origin's API
   * (the caller checks that they are one). Its kind is `service`, which the registry refuses, so it opens nothing on
   * /v2/ even if it leaked.
   */
  async #adminToken(admin: string): Promise<string> {
    const now = Math.floor(this.#o.now() / 1000)
    const { kid, key } = this.#o.keys.signing()
    return new SignJWT({ kind: SERVICE_TOKEN_KIND, access: [{ type: 'controlplane', name: 'admin', actions: ['*'] }] })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid })
      .setIssuer(this.#o.issuer)
      .setSubject(admin)
      .setAudience(this.#o.audience)
      .setIssuedAt(now)
      .setNotBefore(now - 1)
      .setExpirationTime(now + ADMIN_RELAY_TTL_S)
      .setJti(randomUUID())
      .sign(key)
  }
}

/** A relayed admin request's token: `sub` the admin, access `controlplane:admin:*`, one minute, never cached. */
const ADMIN_RELAY_TTL_S = 60

function parseResolution(body: unknown): Resolution {
  const b = body as { site?: unknown; rule?: unknown; detail?: unknown } | null
  if (!b || typeof b !== 'object')
    throw new ControlPlaneError('the control plane answered a resolve without a JSON object')
  const rule = typeof b.rule === 'string' ? b.rule : 'unknown'
  if (b.site === null || b.site === undefined) return { site: null, rule, detail: b.detail ?? null }
  const s = b.site as Partial<AssignedSite>
  if (
    typeof s.id !== 'string' ||
    typeof s.name !== 'string' ||
    typeof s.url !== 'string' ||
    !/^https?:\/\//i.test(s.url)
  ) {
    throw new ControlPlaneError('the control plane answered a resolve with a site lacking id, name or an http(s) url')
  }
  const chain =
    Array.isArray(s.chain) && s.chain.every((x) => typeof x === 'string') && s.chain.length > 0 ? s.chain : [s.id]
  return { site: { id: s.id, name: s.name, url: s.url, chain }, rule, detail: b.detail ?? null }
}

function isSite(s: unknown): s is Site {
  const x = s as Partial<Site> | null
  return !!x && typeof x.id === 'string' && typeof x.name === 'string' && typeof x.url === 'string'
}

/** A site reference as an assignment carries it: a name or id string, or a site object. */
function siteRef(v: unknown): string | null {
  if (typeof v === 'string') return v
  if (v && typeof v === 'object' && typeof (v as { name?: unknown }).name === 'string')
    return (v as { name: string }).name
  return null
}
