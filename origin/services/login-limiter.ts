import { LRUCache } from 'lru-cache'

export interface LimiterOptions {
  /** Failures allowed for one user from one address within the window. Default 10. */
  perUserAddress?: number
  /** Failures allowed from one address, whatever the user names. Default 50. */
  perAddress?: number
  /** Window length in ms. Default 15 minutes. */
  windowMs?: number
  now: () => number
}

interface Counter {
  failures: number
  windowStart: number
}

/**
 * Counts failed logins per (user, address) and per address in a fixed window. Counting per pair as well as per
 * address means an attacker elsewhere cannot lock a user out, and one address cannot walk through many users.
 */
export class LoginLimiter {
  readonly #counters = new LRUCache<string, Counter>({ max: 50_000 })
  readonly #perPair: number
  readonly #perAddress: number
  readonly #windowMs: number
  readonly #now: () => number

  constructor(opts: LimiterOptions) {
    this.#perPair = opts.perUserAddress ?? 10
    this.#perAddress = opts.perAddress ?? 50
    this.#windowMs = opts.windowMs ?? 15 * 60_000
    this.#now = opts.now
  }

  /** Seconds until another attempt is allowed, or 0 when it is allowed now. */
  retryAfter(user: string, address: string): number {
    const now = this.#now()
    let wait = 0
    for (const [key, limit] of this.#keys(user, address)) {
      const c = this.#counters.get(key)
      if (c && now - c.windowStart < this.#windowMs && c.failures >= limit) {
        wait = Math.max(wait, Math.ceil((c.windowStart + this.#windowMs - now) / 1000))
      }
    }
    return wait
  }

  fail(user: string, address: string): void {
    const now = this.#now()
    for (const [key] of this.#keys(user, address)) {
      const c = this.#counters.get(key)
      if (!c || now - c.windowStart >= this.#windowMs) this.#counters.set(key, { failures: 1, windowStart: now })
      else c.failures++
    }
  }

  /** A success clears the pair's count (not the address's: failures on other users still count there). */
  succeed(user: string, address: string): void {
    this.#counters.delete(`p:${user.toLowerCase()}\0${address}`)
  }

  #keys(user: string, address: string): [string, number][] {
    return [
      [`p:${user.toLowerCase()}\0${address}`, this.#perPair],
      [`a:${address}`, this.#perAddress],
    ]
  }
}
