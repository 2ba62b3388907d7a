/**
 * A small control plane on node:http for cache-node tests: the cache node's side of docs/network-protocol.md
 * (`POST /api/v0/join`, `/sites/{id}/heartbeat`, `/sites/{id}/metrics`), with join tokens and site credentials
 * checked as the real one does, every request recorded, idempotent metrics batches (a batch id seen before is
 * answered `duplicate: true` and not counted again), and faults on demand: answer 503, drop the connection after
 * reading the body, or do the work and then kill the socket before answering (a lost answer). It can also go down
 * and come back on the same port.
 */
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { UsageEntry } from '../../cache-node/site/usage.ts'

export type { UsageEntry }

export interface FakeSite {
  id: string
  name: string
  url: string
  credential: string
  fields: Record<string, unknown>
}

/**
 * `503`: answer 503; `drop`: read the body, then destroy the socket without doing anything; `lose-answer`: do the
 * work, then destroy the socket before answering; `cut-answer`: do the work, send the 200 status and headers, then
 * destroy the socket before the body.
 */
export type Fault = '503' | 'drop' | 'lose-answer' | 'cut-answer'
export type Endpoint = 'join' | 'heartbeat' | 'metrics'

export interface SeenCall {
  endpoint: Endpoint | 'other'
  path: string
  authorization: string | undefined
  body: Record<string, unknown>
  /** The status answered; undefined when the connection was dropped. */
  status?: number
}

export interface MetricsPost {
  siteId: string
  batch: string
  entries: UsageEntry[]
  duplicate: boolean
  /** The answer was lost on purpose. */
  lost: boolean
}

export interface FakeControlPlane {
  url: string
  calls: SeenCall[]
  joins: SeenCall[]
  heartbeats: { siteId: string; body: Record<string, unknown> }[]
  /** Every metrics POST that was processed (duplicates too, lost answers too). */
  metricsPosts: MetricsPost[]
  /** Batches counted, by id, first delivery only. */
  batches: Map<string, { siteId: string; entries: UsageEntry[] }>
  sites: Map<string, FakeSite>
  /** Answers to joins and heartbeats carry these. */
  heartbeatIntervalMs: number
  metricsIntervalMs: number
  /** A join token (`wharf_join_<id>_<secret>`) with this many uses; `site` makes it give that site's identity. */
  joinToken(opts?: { uses?: number; site?: string }): string
  /** Faults on an endpoint from now on (`times` requests, or until cleared with `undefined`). */
  fail(endpoint: Endpoint, fault: Fault | undefined, times?: number): void
  /** Sums of the counted (unique) batches by `repository|hour`. */
  totals(): Map<string, Omit<UsageEntry, 'repository' | 'hour'>>
  /** Stops listening (connections refused) until up(). */
  down(): Promise<void>
  /** Listens again on the same port. */
  up(): Promise<void>
  close(): Promise<void>
}

export async function startFakeControlPlane(): Promise<FakeControlPlane> {
  const tokens = new Map<string, { secret: string; uses: number; site?: string }>()
  const faults = new Map<Endpoint, { fault: Fault; times: number }>()
  const sockets = new Set<Socket>()
  let port = 0

  const cp: FakeControlPlane = {
    url: '',
    calls: [],
    joins: [],
    heartbeats: [],
    metricsPosts: [],
    batches: new Map(),
    sites: new Map(),
    heartbeatIntervalMs: 60_000,
    metricsIntervalMs: 3_600_000,
    joinToken(opts = {}) {
      const id = randomBytes(4).toString('hex')
      const secret = randomBytes(12).toString('hex')
      tokens.set(id, { secret, uses: opts.uses ?? 1, site: opts.site })
      return `wharf_join_${id}_${secret}`
    },
    fail(endpoint, fault, times = Infinity) {
      if (fault) faults.set(endpoint, { fault, times })
      else faults.delete(endpoint)
    },
    totals() {
      const out = new Map<string, Omit<UsageEntry, 'repository' | 'hour'>>()
      for (const { entries } of cp.batches.values()) {
        for (const e of entries) {
          const key = `${e.repository}|${e.hour}`
          const t = out.get(key) ?? { requests: 0, hits: 0, misses: 0, bytesToClients: 0, bytesFromUpstream: 0 }
          t.requests += e.requests
          t.hits += e.hits
          t.misses += e.misses
          t.bytesToClients += e.bytesToClients
          t.bytesFromUpstream += e.bytesFromUpstream
          out.set(key, t)
        }
      }
      return out
    },
    down: async () => undefined,
    up: async () => undefined,
    close: async () => undefined,
  }

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    void handle(req, res).catch(() => res.destroy())
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    let body: Record<string, unknown> = {}
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>
    } catch {
      // an unreadable body: the endpoint answers 400
    }
    const path = new URL(req.url ?? '/', 'http://cp').pathname
    const m = /^\/api\/v0\/sites\/([^/]+)\/(heartbeat|metrics)$/.exec(path)
    const endpoint: Endpoint | 'other' =
      path === '/api/v0/join' ? 'join' : m ? (m[2] as 'heartbeat' | 'metrics') : 'other'
    const call: SeenCall = { endpoint, path, authorization: req.headers.authorization, body }
    cp.calls.push(call)
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1] ?? ''

    let fault: Fault | undefined
    if (endpoint !== 'other') {
      const f = faults.get(endpoint)
      if (f && f.times > 0) {
        f.times--
        fault = f.fault
      }
    }
    if (fault === 'drop') {
      req.socket.destroy()
      return
    }
    if (fault === '503') return answer(res, call, 503, err('UNAVAILABLE', 'the control plane is having a bad day'))
    const lose = fault === 'lose-answer' || fault === 'cut-answer'
    const send = (status: number, doc: unknown) => {
      if (fault === 'lose-answer') {
        // the work is done (and recorded); the answer never arrives
        req.socket.destroy()
        return
      }
      if (fault === 'cut-answer') {
        call.status = status
        res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': 1000 })
        res.flushHeaders()
        res.write('{"batch":', () => req.socket.destroy())
        return
      }
      answer(res, call, status, doc)
    }

    if (req.method !== 'POST') return send(404, err('NOT_FOUND', 'no such route'))
    if (endpoint === 'join') {
      cp.joins.push(call)
      const t = /^wharf_join_([a-f0-9]+)_([a-f0-9]+)$/.exec(bearer)
      const token = t ? tokens.get(t[1]!) : undefined
      if (!t || !token || token.secret !== t[2] || token.uses <= 0)
        return send(401, err('UNAUTHORIZED', 'the join token is unknown, used up, expired or revoked'))
      let site = token.site
        ? [...cp.sites.values()].find((s) => s.name === token.site || s.id === token.site)
        : undefined
      if (!site) {
        const name = typeof body.name === 'string' ? body.name : token.site
        if (!name) return send(400, err('BAD_REQUEST', 'name is required to create a site'))
        if ([...cp.sites.values()].some((s) => s.name === name)) return send(409, err('SITE_EXISTS', `${name} exists`))
        site = { id: `s_${randomBytes(8).toString('hex')}`, name, url: String(body.url), credential: '', fields: body }
        cp.sites.set(site.id, site)
      }
      token.uses--
      site.credential = `wharf_site_${site.id}_${randomBytes(16).toString('hex')}`
      return send(200, {
        site: { id: site.id, name: site.name, url: site.url, ...site.fields },
        credential: site.credential,
        heartbeatIntervalMs: cp.heartbeatIntervalMs,
        metricsIntervalMs: cp.metricsIntervalMs,
      })
    }
    if (m) {
      const site = cp.sites.get(decodeURIComponent(m[1]!))
      if (!site || bearer !== site.credential) return send(401, err('UNAUTHORIZED', 'bad site credential'))
      if (endpoint === 'heartbeat') {
        cp.heartbeats.push({ siteId: site.id, body })
        return send(200, {
          state: 'up',
          heartbeatIntervalMs: cp.heartbeatIntervalMs,
          metricsIntervalMs: cp.metricsIntervalMs,
        })
      }
      const batch = body.batch
      const entries = body.entries
      if (typeof batch !== 'string' || !Array.isArray(entries))
        return send(400, err('BAD_REQUEST', 'batch and entries are required'))
      const duplicate = cp.batches.has(batch)
      if (!duplicate) cp.batches.set(batch, { siteId: site.id, entries: entries as UsageEntry[] })
      cp.metricsPosts.push({ siteId: site.id, batch, entries: entries as UsageEntry[], duplicate, lost: lose })
      return send(200, { batch, duplicate })
    }
    return send(404, err('NOT_FOUND', `no route for ${req.method} ${path}`))
  }

  let server: Server | undefined
  const listen = async () => {
    if (server?.listening) return
    server = createServer(handler)
    server.on('connection', (s) => {
      sockets.add(s)
      s.once('close', () => sockets.delete(s))
    })
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    port = (server.address() as AddressInfo).port
  }
  const stop = async () => {
    const s = server
    if (!s?.listening) return
    for (const sock of sockets) sock.destroy()
    s.close()
    await once(s, 'close').catch(() => undefined)
  }
  await listen()
  cp.url = `http://127.0.0.1:${port}`
  cp.down = stop
  cp.up = listen
  cp.close = stop
  return cp
}

function err(code: string, message: string) {
  return { error: { code, message } }
}

function answer(res: ServerResponse, call: SeenCall, status: number, doc: unknown): void {
  call.status = status
  const text = JSON.stringify(doc)
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) })
  res.end(text)
}
