/**
 * A small real HTTP stand-in for the control plane's origin-facing API (docs/network-protocol.md), for origin tests:
 * `POST /api/v0/assignments/resolve`, `GET /api/v0/sites`, `GET|PUT|DELETE /api/v0/assignments/user/{user}`.
 * Every request must carry the origin's service JWT (verified against `<origin>/auth/jwks.json`); every request is
 * recorded. It can be made slow (answers after 2 s) or down (drops connections).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose'

export interface FakeSite {
  id: string
  name: string
  url: string
  region?: string | null
  /** Another site's name: this site's upstream. */
  parent?: string | null
  health?: { state: 'up' | 'down' | 'unknown'; since: string | null; lastHeartbeatAt: string | null }
}

export interface RecordedRequest {
  method: string
  path: string
  body: unknown
  authorization: string | undefined
  /** `ok`: the service JWT verified; `refused`: 401; `down` / `slow`: how the fake treated it. */
  outcome: 'ok' | 'refused' | 'down' | 'slow'
  claims?: JWTPayload
}

export interface FakeControlPlane {
  url: string
  requests: RecordedRequest[]
  sites: FakeSite[]
  /** Explicit user assignments: user → site name. */
  assignments: Map<string, string>
  /** What a resolve answers when the user has no assignment: a site name, or null (the origin serves). */
  fallback: string | null | ((body: ResolveBody) => string | null)
  mode: 'up' | 'slow' | 'down'
  /** Accept service JWTs from this origin (its issuer; `service` defaults to the origin's host). */
  trust(originUrl: string, service?: string): void
  /** The recorded resolve requests (their bodies). */
  resolves(): ResolveBody[]
  close(): Promise<void>
}

export interface ResolveBody {
  user?: string
  teams?: string[]
  orgs?: string[]
  address?: string
}

export const SLOW_MS = 2000

export function site(name: string, url: string, extra: Partial<FakeSite> = {}): FakeSite {
  const id = `s_${Buffer.from(name.padEnd(8, '0')).toString('hex').slice(0, 16)}`
  return {
    id,
    name,
    url,
    region: 'eu-west',
    parent: null,
    health: { state: 'up', since: new Date(0).toISOString(), lastHeartbeatAt: new Date(0).toISOString() },
    ...extra,
  }
}

export async function startFakeControlPlane(
  opts: { sites?: FakeSite[]; now?: () => number } = {},
): Promise<FakeControlPlane> {
  const now = opts.now ?? Date.now
  let verifier: ((token: string) => Promise<JWTPayload>) | undefined

  const fake: FakeControlPlane = {
    url: '',
    requests: [],
    sites: opts.sites ?? [],
    assignments: new Map(),
    fallback: null,
    mode: 'up',
    trust(originUrl, service) {
      const origin = new URL(originUrl)
      const jwks = createRemoteJWKSet(new URL('/auth/jwks.json', origin))
      verifier = async (token) => {
        const { payload } = await jwtVerify(token, jwks, {
          algorithms: ['ES256'],
          issuer: origin.origin,
          audience: service ?? origin.host,
          currentDate: new Date(now()),
        })
        const access = Array.isArray(payload.access)
          ? (payload.access as { type: string; name: string; actions: string[] }[])
          : []
        if (!access.some((a) => a.type === 'controlplane' && a.name === 'origin' && a.actions.includes('*'))) {
          throw new Error('the token does not hold controlplane:origin:*')
        }
        return payload
      }
    },
    resolves() {
      return fake.requests.filter((r) => r.path === '/api/v0/assignments/resolve').map((r) => r.body as ResolveBody)
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }

  const byRef = (ref: string) => fake.sites.find((s) => s.name === ref || s.id === ref)
  const chainOf = (s: FakeSite): string[] => {
    const chain = [s.id]
    let parent = s.parent ? byRef(s.parent) : undefined
    while (parent && !chain.includes(parent.id)) {
      chain.push(parent.id)
      parent = parent.parent ? byRef(parent.parent) : undefined
    }
    return chain
  }

  const handle = async (req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0]!
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path,
      body,
      authorization: req.headers.authorization,
      outcome: 'ok',
    }
    fake.requests.push(record)
    if (fake.mode === 'down') {
      record.outcome = 'down'
      req.socket.destroy()
      return
    }
    if (fake.mode === 'slow') {
      record.outcome = 'slow'
      await new Promise((r) => setTimeout(r, SLOW_MS))
    }
    const json = (status: number, value: unknown) => {
      if (res.destroyed) return
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(value === undefined ? undefined : JSON.stringify(value))
    }
    const error = (status: number, code: string, message: string) => json(status, { error: { code, message } })
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1]
    try {
      if (!bearer || !verifier) throw new Error('no bearer token, or no origin trusted yet')
      record.claims = await verifier(bearer)
    } catch (err) {
      record.outcome = 'refused'
      return error(401, 'UNAUTHORIZED', (err as Error).message)
    }

    if (req.method === 'POST' && path === '/api/v0/assignments/resolve') {
      const q = (body ?? {}) as ResolveBody
      const assigned = q.user ? fake.assignments.get(q.user) : undefined
      const fallback = typeof fake.fallback === 'function' ? fake.fallback(q) : fake.fallback
      const chosen = assigned ?? fallback
      const s = chosen === null ? undefined : byRef(chosen)
      if (!s || s.health?.state !== 'up') return json(200, { site: null, rule: 'origin', detail: 'no site' })
      return json(200, {
        site: { id: s.id, name: s.name, url: s.url, chain: chainOf(s) },
        rule: assigned ? 'user' : 'default',
        detail: assigned ? `user ${q.user}` : 'the default site',
      })
    }
    if (req.method === 'GET' && path === '/api/v0/sites') return json(200, { sites: fake.sites })
    const m = /^\/api\/v0\/assignments\/user\/([^/]+)$/.exec(path)
    if (m) {
      const user = decodeURIComponent(m[1]!)
      if (req.method === 'GET') {
        const s = fake.assignments.get(user)
        return s === undefined
          ? error(404, 'NOT_FOUND', `no assignment for user ${user}`)
          : json(200, { kind: 'user', subject: user, site: s })
      }
      if (req.method === 'PUT') {
        const ref = (body as { site?: unknown } | null)?.site
        const s = typeof ref === 'string' ? byRef(ref) : undefined
        if (!s) return error(404, 'SITE_UNKNOWN', `no site ${String(ref)}`)
        fake.assignments.set(user, s.name)
        return json(200, { kind: 'user', subject: user, site: s.name })
      }
      if (req.method === 'DELETE') {
        if (!fake.assignments.delete(user)) return error(404, 'NOT_FOUND', `no assignment for user ${user}`)
        res.writeHead(204).end()
        return
      }
    }
    return error(404, 'NOT_FOUND', `no route ${req.method} ${path}`)
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      let body: unknown = null
      try {
        body = text ? JSON.parse(text) : null
      } catch {
        body = text
      }
      handle(req, res, body).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500).end(String(err))
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return fake
}
