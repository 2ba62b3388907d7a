import type { Statement } from 'better-sqlite3'
import type { Db } from '../storage/db.ts'

export interface LimiterOptions {
  /** Attempts allowed for one user from one address within the window. Default 10. */
  perUserAddress?: number
  /** Attempts allowed from one address, whatever the user names. Default 50. */
  perAddress?: number
  /** Window length in ms. Default 15 minutes. */
  windowMs?: number
  now: () => number
}

/** A reserved attempt: settle it once the credentials have been checked. */
export interface Attempt {
  /** The credentials were right: the pair's count is cleared and the address gets its reservation back. */
  succeeded(): void
  /** The credentials were wrong: the reservation stays counted as a failure. */
  failed(): void
  /** The check could not be made (a directory down, say): nothing is counted. */
  abandoned(): void
}

export type Reservation = { ok: true; attempt: Attempt } | { ok: false; retryAfter: number }

/**
 * Counts login attempts per (user, address) and per address in a fixed window. Counting per pair as well as per
 * address means an attacker elsewhere cannot lock a user out, and one address cannot walk through many users.
 *
 * An attempt is reserved (counted) before the slow password hash runs and settled after it, so a burst of
 * parallel guesses is limited exactly like a sequence of them: the 11th concurrent guess is refused before it is
 * checked. The counters live in the origin's database, so a restart does not clear them, and an attacker cannot
 * push them out of memory by naming many users.
 */
export class LoginLimiter {
  readonly #db: Db
  readonly #perPair: number
  readonly #perAddress: number
  readonly #windowMs: number
  readonly #now: () => number
  readonly #s: Record<'bump' | 'refund' | 'clear' | 'purge', Statement>
  #sincePurge = 0

  constructor(db: Db, opts: LimiterOptions) {
    this.#db = db
    this.#perPair = opts.perUserAddress ?? 10
    this.#perAddress = opts.perAddress ?? 50
    this.#windowMs = opts.windowMs ?? 15 * 60_000
    this.#now = opts.now
    this.#s = {
      // one statement: a window that has run out starts again at this attempt
      bump: db.prepare(`INSERT INTO login_attempts (key, attempts, window_start) VALUES (@key, 1, @now)
                        ON CONFLICT (key) DO UPDATE SET
                          attempts = CASE WHEN window_start <= @now - @window THEN 1 ELSE attempts + 1 END,
                          window_start = CASE WHEN window_start <= @now - @window THEN @now ELSE window_start END
                        RETURNING attempts, window_start AS windowStart`),
      refund: db.prepare(
        'UPDATE login_attempts SET attempts = attempts - 1 WHERE key = ? AND window_start = ? AND attempts > 0',
      ),
      clear: db.prepare('DELETE FROM login_attempts WHERE key = ?'),
      purge: db.prepare('DELETE FROM login_attempts WHERE window_start <= ?'),
    }
  }

  /**
   * Counts an attempt now, before the credentials are checked; refused (and not counted) when either counter is
   * already at its limit.
   */
  reserve(user: string, address: string): Reservation {
    const now = this.#now()
    const keys = this.#keys(user, address)
    const outcome = this.#db.transaction((): { ok: false; retryAfter: number } | { ok: true; windows: number[] } => {
      const windows: number[] = []
      let wait = 0
      for (const [key, limit] of keys) {
        const c = this.#s.bump.get({ key, now, window: this.#windowMs }) as { attempts: number; windowStart: number }
        windows.push(c.windowStart)
        if (c.attempts > limit) wait = Math.max(wait, this.#waitFor(c.windowStart, now))
      }
      if (wait > 0) {
        keys.forEach(([key], i) => this.#s.refund.run(key, windows[i]))
        return { ok: false, retryAfter: wait }
      }
      return { ok: true, windows }
    })()
    if (!outcome.ok) return outcome
    if (++this.#sincePurge >= 1000) {
      this.#sincePurge = 0
      this.#s.purge.run(now - this.#windowMs)
    }
    const [[pairKey], [addressKey]] = keys
    const [pairWindow, addressWindow] = outcome.windows as [number, number]
    let settled = false
    const settle = (fn: () => void) => () => {
      if (settled) return
      settled = true
      fn()
    }
    return {
      ok: true,
      attempt: {
        succeeded: settle(() => {
          this.#s.clear.run(pairKey)
          this.#s.refund.run(addressKey, addressWindow)
        }),
        failed: settle(() => {}),
        abandoned: settle(() => {
          this.#s.refund.run(pairKey, pairWindow)
          this.#s.refund.run(addressKey, addressWindow)
        }),
      },
    }
  }

  #waitFor(windowStart: number, now: number): number {
    return Math.max(1, Math.ceil((windowStart + this.#windowMs - now) / 1000))
  }

  #keys(user: string, address: string): [[string, number], [string, number]] {
    return [
      [`p:${user.toLowerCase()}\0${address}`, this.#perPair],
      [`a:${address}`, this.#perAddress],
    ]
  }
}
