import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { BlobStore } from './blob-store.ts'
import type { IndexDb } from './index-db.ts'

export interface ScrubOptions {
  store: BlobStore
  index: IndexDb
  /** Bytes re-hashed per second at most (CACHE_SCRUB_BYTES_PER_SECOND); 0 turns the scrub off. */
  bytesPerSecond: number
  /** An entry is re-hashed at most this often (CACHE_SCRUB_INTERVAL); unverified entries at once. */
  intervalMs: number
  now: () => number
  log: Logger
  /** Counts bytes re-hashed. */
  onBytes?: (n: number) => void
}

/** How long the scrub waits before looking again when no entry is due. */
const IDLE_MS = 1000
/** The most the scrub may run ahead of its rate after it was idle (a burst), in seconds' worth of bytes. */
const BURST_S = 1

/**
 * Re-hashes cached files in the background, at most `bytesPerSecond`, and drops those that no longer match their
 * digest (bit rot, a hand in the folder), so the next request fills them again. Entries not verified since an
 * unclean stop come first, then the one verified longest ago, each at most once per `intervalMs`. The rate is
 * real time (a token bucket), whatever the injected clock says; the clock decides what is due.
 */
export class Scrubber {
  readonly #opts: ScrubOptions
  readonly #stop = new AbortController()
  #loop: Promise<void> | undefined

  constructor(opts: ScrubOptions) {
    this.#opts = opts
  }

  start(): void {
    if (this.#opts.bytesPerSecond <= 0 || this.#loop) return
    this.#loop = this.#run().catch((err: unknown) => {
      if ((err as Error).name !== 'AbortError') this.#opts.log.error({ err }, 'scrub stopped')
    })
  }

  async stop(): Promise<void> {
    this.#stop.abort()
    await this.#loop
  }

  async #run(): Promise<void> {
    const { store, index, bytesPerSecond, intervalMs, now, log } = this.#opts
    const signal = this.#stop.signal
    // a token bucket: `next` is when the bytes hashed so far may have been hashed at the rate
    let next = performance.now()
    const throttle = async (n: number) => {
      this.#opts.onBytes?.(n)
      next = Math.max(next, performance.now() - BURST_S * 1000) + (n / bytesPerSecond) * 1000
      const wait = next - performance.now()
      if (wait > 0) await sleep(wait, undefined, { signal })
      signal.throwIfAborted()
    }
    while (!signal.aborted) {
      const due = index.dueForScrub(now() - intervalMs)
      if (!due) {
        await sleep(IDLE_MS, undefined, { signal })
        continue
      }
      try {
        if (!(await store.verify(due.digest, 'scrub', throttle))) log.warn({ digest: due.digest }, 'scrub dropped an entry')
      } catch (err) {
        if ((err as Error).name === 'AbortError') throw err
        // an unreadable file is not a verified one: drop it, so the scrub moves on and a request fills it again
        log.error({ err, digest: due.digest }, 'scrub could not read an entry; dropped')
        store.dropCorrupt(due.digest, 'scrub')
      }
    }
  }
}
