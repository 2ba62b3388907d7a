import { createHash, timingSafeEqual } from 'node:crypto'
import type Database from 'better-sqlite3'
import type { Context, Handler } from 'hono'
import ipaddr from 'ipaddr.js'
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { clientAddress as peerAddress } from './node-io.ts'
import type { RequestRecord } from './request-log.ts'

/** Seconds buckets for SQLite statements: most take microseconds, a checkpoint or a big transaction milliseconds. */
const DB_BUCKETS_S = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1]
/** Seconds buckets for whole requests: from a cached manifest to a multi-gigabyte layer. */
const REQUEST_BUCKETS_S = [0.005, 0.025, 0.1, 0.5, 1, 5, 30, 120, 600]

/**
 * One program's Prometheus registry: Node's process metrics (collectDefaultMetrics on this registry, not the global
 * one, so several programs in one test process do not clash) plus the HTTP series every program has. Each program
 * adds its own series to `registry`.
 */
export class ProgramMetrics {
  readonly registry = new Registry()
  readonly #requests = new Counter({
    name: 'wharf_http_requests_total',
    help: 'HTTP requests by method, matched route pattern and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  })
  readonly #duration = new Histogram({
    name: 'wharf_http_request_duration_seconds',
    help: 'HTTP request durations (until the last response byte left), by matched route pattern.',
    labelNames: ['route'] as const,
    buckets: REQUEST_BUCKETS_S,
    registers: [this.registry],
  })
  readonly #bytesIn = new Counter({
    name: 'wharf_http_request_bytes_total',
    help: 'Request body bytes received, by matched route pattern.',
    labelNames: ['route'] as const,
    registers: [this.registry],
  })
  readonly #bytesOut = new Counter({
    name: 'wharf_http_response_bytes_total',
    help: 'Response body bytes sent, by matched route pattern.',
    labelNames: ['route'] as const,
    registers: [this.registry],
  })
  readonly #aborted = new Counter({
    name: 'wharf_http_requests_aborted_total',
    help: 'Requests whose client went away before the response was complete, by matched route pattern.',
    labelNames: ['route'] as const,
    registers: [this.registry],
  })
  #db: Histogram<'statement'> | undefined

  constructor(program: string) {
    collectDefaultMetrics({ register: this.registry, labels: { program } })
  }

  /** One finished request (RequestLogOptions.onDone). */
  httpRequest(r: RequestRecord): void {
    const route = r.route
    this.#requests.inc({ method: r.method, route, status: String(r.status) })
    this.#duration.observe({ route }, r.ms / 1000)
    if (r.bytesIn > 0) this.#bytesIn.inc({ route }, r.bytesIn)
    if (r.bytesOut > 0) this.#bytesOut.inc({ route }, r.bytesOut)
    if (r.aborted) this.#aborted.inc({ route })
  }

  /**
   * Times every statement `db` prepares from now on (`wharf_db_statement_seconds{statement="SELECT blobs"}`: the verb
   * and first table, bounded by the statements in the code). Call before the stores prepare theirs.
   */
  timeStatements(db: Database.Database): void {
    const histogram = (this.#db ??= new Histogram({
      name: 'wharf_db_statement_seconds',
      help: 'SQLite statement durations, by verb and first table.',
      labelNames: ['statement'] as const,
      buckets: DB_BUCKETS_S,
      registers: [this.registry],
    }))
    const prepare = db.prepare.bind(db)
    db.prepare = ((sql: string) => {
      const statement = prepare(sql)
      // the labelled series is looked up once per statement, not at every run (a cache hit runs several)
      const series = histogram.labels({ statement: statementLabel(sql) })
      const methods = statement as unknown as Record<'run' | 'get' | 'all', (...args: unknown[]) => unknown>
      for (const method of ['run', 'get', 'all'] as const) {
        const original = methods[method].bind(statement)
        methods[method] = (...args: unknown[]) => {
          const end = series.startTimer()
          try {
            return original(...args)
          } finally {
            end()
          }
        }
      }
      return statement
    }) as typeof db.prepare
  }

  /** The Prometheus text of every series. */
  render(): Promise<string> {
    return this.registry.metrics()
  }
}

/** `SELECT blobs`, `INSERT events`: the verb and the first table named. */
export function statementLabel(sql: string): string {
  const s = sql.replace(/\s+/g, ' ').trim()
  const verb = (/^(\w+)/.exec(s)?.[1] ?? 'SQL').toUpperCase()
  const table = /\b(?:FROM|INTO|UPDATE|JOIN)\s+["`]?(\w+)/i.exec(s)?.[1]
  return table ? `${verb} ${table}` : verb
}

/**
 * GET /metrics: the registry in the Prometheus text format. With a token set (`<PREFIX>_METRICS_TOKEN`) a scrape
 * needs `Authorization: Bearer <token>`; without one, only clients connecting from a loopback address are answered
 * (the series name repositories and users' routes), others get 403 naming the variable.
 */
export function metricsHandler(opts: {
  render(): Promise<string> | string
  token: string | undefined
  tokenVariable: string
}): Handler {
  return async (c: Context) => {
    if (opts.token) {
      if (!sameSecret(c.req.header('authorization') ?? '', `Bearer ${opts.token}`))
        return c.text(`metrics need Authorization: Bearer <${opts.tokenVariable}>\n`, 401, {
          'WWW-Authenticate': 'Bearer realm="metrics"',
        })
    } else if (!isLoopback(peerAddress(c))) {
      return c.text(
        `metrics are served to loopback clients only; set ${opts.tokenVariable} to scrape from elsewhere\n`,
        403,
      )
    }
    return c.text(await opts.render(), 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' })
  }
}

/** A loopback peer (127.0.0.0/8, ::1, ::ffff:127.x); `unknown` (app.request in a test) counts as local. */
export function isLoopback(address: string): boolean {
  if (address === 'unknown') return true
  if (!ipaddr.isValid(address)) return false
  return ipaddr.process(address).range() === 'loopback'
}

/** Compares secrets in constant time (hashes first, so lengths do not show either). */
function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest())
}
