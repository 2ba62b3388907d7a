import { constants } from 'node:fs'
import { access, statfs } from 'node:fs/promises'
import { Hono } from 'hono'
import { request, type Dispatcher } from 'undici'

/** What one readiness check found. */
export type CheckResult = { ok: true; detail?: string } | { ok: false; detail: string }

/** One thing /readyz needs: the database, the data disk, an upstream. */
export interface ReadinessCheck {
  name: string
  check(): Promise<CheckResult> | CheckResult
}

/** Below this many free bytes the data disk is not ready: a write would fail part way. */
export const MIN_FREE_BYTES = 64 * 1024 * 1024 // 64MiB

/** The database answers `SELECT 1`. */
export function databaseCheck(ping: () => unknown): ReadinessCheck {
  return {
    name: 'database',
    check() {
      try {
        ping()
        return { ok: true }
      } catch (err) {
        return { ok: false, detail: `SELECT 1 failed: ${(err as Error).message}` }
      }
    },
  }
}

/** The data folder is writable and its filesystem has at least MIN_FREE_BYTES free. */
export function diskCheck(dir: string, minFreeBytes = MIN_FREE_BYTES): ReadinessCheck {
  return {
    name: 'disk',
    async check() {
      try {
        await access(dir, constants.W_OK)
        const s = await statfs(dir)
        const free = s.bavail * s.bsize
        if (free < minFreeBytes) return { ok: false, detail: `${dir} has ${free} bytes free, below ${minFreeBytes}` }
        return { ok: true, detail: `${free} bytes free` }
      } catch (err) {
        return { ok: false, detail: `${dir} is not writable: ${(err as Error).message}` }
      }
    },
  }
}

export interface UpstreamProbeOptions {
  /** The check's name in /readyz (`origin`, `upstream`, `control-plane`). */
  name: string
  /** What is asked: any HTTP answer below 500 counts as reachable. */
  url: URL
  now: () => number
  /** A probe older than this is refreshed (in the background) when /readyz is asked. Default 5 s. */
  everyMs?: number
  /** A success older than this no longer counts (the upstream has not answered recently). Default 30 s. */
  staleAfterMs?: number
  timeoutMs?: number
  dispatcher?: Dispatcher
}

/**
 * Whether an upstream answered recently. A probe older than `everyMs` starts a new one in the background and the
 * answer is the last one known, so a load balancer polling every second costs one request to the upstream every
 * `everyMs` and never waits on it. Only a /readyz with no probe in the last `staleAfterMs` (the first one, or one
 * after a quiet spell) waits for its probe.
 */
export class UpstreamProbe implements ReadinessCheck {
  readonly name: string
  readonly #o: UpstreamProbeOptions
  #probedAt = -Infinity
  #okAt = -Infinity
  #lastOk = false
  #lastError = 'not probed yet'
  #running: Promise<void> | undefined

  constructor(o: UpstreamProbeOptions) {
    this.name = o.name
    this.#o = o
  }

  async check(): Promise<CheckResult> {
    const now = this.#o.now()
    const staleAfter = this.#o.staleAfterMs ?? 30_000
    // the first /readyz, or one after a long quiet, waits for its answer; a load balancer's polls never do
    if (now - this.#probedAt > staleAfter) await this.#probe()
    else if (now - this.#probedAt >= (this.#o.everyMs ?? 5_000)) void this.#probe()
    if (this.#lastOk && this.#o.now() - this.#okAt <= staleAfter) return { ok: true, detail: this.#o.url.origin }
    return {
      ok: false,
      detail: `${this.#o.url.origin} did not answer: ${this.#lastOk ? 'no answer recently' : this.#lastError}`,
    }
  }

  #probe(): Promise<void> {
    this.#running ??= this.#ask().finally(() => {
      this.#running = undefined
    })
    return this.#running
  }

  async #ask(): Promise<void> {
    const at = this.#o.now()
    try {
      const res = await request(this.#o.url, {
        method: 'GET',
        dispatcher: this.#o.dispatcher,
        signal: AbortSignal.timeout(this.#o.timeoutMs ?? 5_000),
      })
      await res.body.dump()
      if (res.statusCode >= 500) throw new Error(`status ${res.statusCode}`)
      this.#okAt = at
      this.#lastOk = true
    } catch (err) {
      this.#lastError = (err as Error).message
      this.#lastOk = false
    } finally {
      this.#probedAt = at
    }
  }
}

/**
 * `/healthz` (alive: 200 while the process serves) and `/readyz` (every check passes: 200, else 503; both with a
 * JSON body naming each check and what failed). With `ping`, also DTR's `/_ping` for load balancers: 200
 * `{"Error":"","Healthy":true}`, or 503 with `Healthy: false` and what failed in `Error`.
 */
export function healthRoutes(checks: readonly ReadinessCheck[], opts: { ping?: boolean } = {}): Hono {
  const app = new Hono()
  const readiness = async () => {
    const results = await Promise.all(checks.map(async (k) => [k.name, await k.check()] as const))
    const failed = results.filter(([, r]) => !r.ok)
    return { results, failed }
  }
  app.get('/healthz', (c) => c.json({ status: 'ok' }, 200, { 'Cache-Control': 'no-store' }))
  app.get('/readyz', async (c) => {
    const { results, failed } = await readiness()
    return c.json(
      {
        status: failed.length === 0 ? 'ready' : 'not ready',
        failed: failed.map(([name]) => name),
        checks: Object.fromEntries(results),
      },
      failed.length === 0 ? 200 : 503,
      { 'Cache-Control': 'no-store' },
    )
  })
  if (opts.ping) {
    app.get('/_ping', async (c) => {
      const { failed } = await readiness()
      const error = failed.map(([name, r]) => `${name}: ${r.ok ? '' : r.detail}`).join('; ')
      return c.json({ Error: error, Healthy: failed.length === 0 }, failed.length === 0 ? 200 : 503, {
        'Cache-Control': 'no-store',
      })
    })
  }
  return app
}
