import type { CacheOutcome, UsageSink } from '../metrics.ts'

/** One `(repository, hour)` row of usage, as the control plane's metrics endpoint takes it. */
export interface UsageEntry {
  repository: string
  /** The start of a UTC hour, ISO 8601. */
  hour: string
  requests: number
  hits: number
  misses: number
  bytesToClients: number
  bytesFromUpstream: number
}

const HOUR_MS = 3_600_000
/** Rows held in memory at most (a node that cannot join for days, or a scan of many names): more share `_other`. */
export const MAX_USAGE_ROWS = 50_000

export function hourOf(ms: number): string {
  return new Date(Math.floor(ms / HOUR_MS) * HOUR_MS).toISOString()
}

/**
 * Per-repository usage counted in memory until the next flush closes it into a batch. A content request counts
 * once it finished with an answer from the cache: `hit` (hit or stale) or `miss` (miss or coalesced: it waited on
 * the upstream); refused and failed requests are not counted. Bytes from upstreams count as they arrive.
 */
export class Usage implements UsageSink {
  readonly #now: () => number
  #rows = new Map<string, UsageEntry>()
  #hits = 0
  #misses = 0
  /** The current hour's number and ISO text: rows are looked up per upstream chunk, the text changes hourly. */
  #hour = { n: -1, iso: '' }

  constructor(now: () => number) {
    this.#now = now
  }

  request(r: { repository: string; cache: CacheOutcome | undefined; bytes: number }): void {
    if (r.cache === undefined) return
    const row = this.#row(r.repository)
    row.requests++
    if (r.cache === 'hit' || r.cache === 'stale') {
      row.hits++
      this.#hits++
    } else {
      row.misses++
      this.#misses++
    }
    row.bytesToClients += r.bytes
  }

  fromUpstream(repository: string, n: number): void {
    if (n > 0) this.#row(repository).bytesFromUpstream += n
  }

  /** Rows counted since the last take. */
  get pending(): number {
    return this.#rows.size
  }

  /** Closes the counters: answers what was counted since the last take and starts from zero. */
  take(): UsageEntry[] {
    const rows = [...this.#rows.values()]
    this.#rows = new Map()
    return rows
  }

  /** Adds rows taken earlier back (they could not be kept in a batch). */
  putBack(rows: UsageEntry[]): void {
    for (const r of rows) {
      const key = `${r.hour}\n${r.repository}`
      const row = this.#rows.get(key)
      if (!row) {
        this.#rows.set(key, { ...r })
        continue
      }
      row.requests += r.requests
      row.hits += r.hits
      row.misses += r.misses
      row.bytesToClients += r.bytesToClients
      row.bytesFromUpstream += r.bytesFromUpstream
    }
  }

  /** hits / (hits + misses) since the node started; null before any. */
  hitRatio(): number | null {
    const total = this.#hits + this.#misses
    return total === 0 ? null : this.#hits / total
  }

  #row(repository: string): UsageEntry {
    const n = Math.floor(this.#now() / HOUR_MS)
    if (n !== this.#hour.n) this.#hour = { n, iso: hourOf(n * HOUR_MS) }
    const hour = this.#hour.iso
    let name = repository
    let key = `${hour}\n${name}`
    if (!this.#rows.has(key) && this.#rows.size >= MAX_USAGE_ROWS) {
      name = '_other'
      key = `${hour}\n${name}`
    }
    let row = this.#rows.get(key)
    if (!row) {
      row = { repository: name, hour, requests: 0, hits: 0, misses: 0, bytesToClients: 0, bytesFromUpstream: 0 }
      this.#rows.set(key, row)
    }
    return row
  }
}
