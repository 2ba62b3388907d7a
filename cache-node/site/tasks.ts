import type { Logger } from 'pino'

/** Repeated failures of the same kind are logged at most this often. */
const LOG_EVERY_MS = 60_000

/**
 * What the site's background work (join, heartbeats, usage outbox) shares: its timers, one stop signal, the
 * closed state and rate-limited failure logging. Closing it clears every timer and aborts what is in flight.
 */
export class SiteTasks {
  readonly log: Logger
  readonly now: () => number
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #stop = new AbortController()
  readonly #logged = new Map<string, { at: number; suppressed: number }>()
  #closed = false

  constructor(log: Logger, now: () => number) {
    this.log = log
    this.now = now
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Aborted on close. */
  get signal(): AbortSignal {
    return this.#stop.signal
  }

  /** Runs fn after ms unless closed first; the timer does not keep the process alive. */
  after(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.#timers.delete(t)
      if (!this.#closed) fn()
    }, ms)
    t.unref()
    this.#timers.add(t)
    return t
  }

  cancel(t: NodeJS.Timeout | undefined): void {
    if (!t) return
    clearTimeout(t)
    this.#timers.delete(t)
  }

  /** Logs the first failure of a kind, then at most once a minute with how many were not logged. */
  limitedLog(key: string, level: 'warn' | 'error', obj: Record<string, unknown>, msg: string): void {
    const now = this.now()
    const last = this.#logged.get(key)
    if (last && now - last.at < LOG_EVERY_MS) {
      last.suppressed++
      return
    }
    this.#logged.set(key, { at: now, suppressed: 0 })
    this.log[level]({ ...obj, ...(last?.suppressed ? { notLogged: last.suppressed } : {}) }, msg)
  }

  /** The failures of a kind are over: the next one is logged at once. */
  recovered(key: string): void {
    this.#logged.delete(key)
  }

  close(): void {
    this.#closed = true
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    this.#stop.abort()
  }
}
