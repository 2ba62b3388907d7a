import type Database from 'better-sqlite3'
import type { Db } from './db.ts'

/** One metrics entry: counters of one repository at one site during one UTC hour. */
export interface UsageEntry {
  repository: string
  /** Start of the UTC hour, epoch milliseconds. */
  hour: number
  requests: number
  hits: number
  misses: number
  bytesToClients: number
  bytesFromUpstream: number
}

/** Summed counters of a group (period, site, repository). */
export interface UsageSum {
  period: number
  siteId: string
  repository: string
  requests: number
  hits: number
  misses: number
  bytesToClients: number
  bytesFromUpstream: number
  /**
   * Bytes sent to clients minus bytes fetched from upstream, taken per (site, repository, hour) and never below 0
   * there: an hour whose fetches outweigh what it sent (a HEAD makes the cache fetch a manifest it does not send)
   * saved nothing; its bytes still count in bytesFromUpstream.
   */
  originEgressSaved: number
}

export interface UsageQuery {
  from: number
  to: number
  /** Length of a period in milliseconds (an hour or a day); periods start at multiples of it (UTC). */
  bucketMs: number
  siteId?: string
  repository?: string
}

/** Usage counters per (site, repository, hour), and the metric batches already counted. */
export class UsageStore {
  readonly #db: Db
  readonly #seen: Database.Statement<[string, string], { batch: string }>
  readonly #markSeen: Database.Statement<[string, string, number]>
  readonly #add: Database.Statement<Record<string, unknown>>
  readonly #sum: Database.Statement<Record<string, unknown>, UsageSum>

  constructor(db: Db) {
    this.#db = db
    this.#seen = db.prepare('SELECT batch FROM metric_batches WHERE site_id = ? AND batch = ?')
    this.#markSeen = db.prepare('INSERT INTO metric_batches (site_id, batch, received_at) VALUES (?, ?, ?)')
    this.#add = db.prepare(`INSERT INTO usage (site_id, repository, hour, requests, hits, misses, bytes_to_clients,
      bytes_from_upstream) VALUES (@siteId, @repository, @hour, @requests, @hits, @misses, @bytesToClients,
      @bytesFromUpstream) ON CONFLICT(site_id, repository, hour) DO UPDATE SET requests = requests + excluded.requests,
      hits = hits + excluded.hits, misses = misses + excluded.misses,
      bytes_to_clients = bytes_to_clients + excluded.bytes_to_clients,
      bytes_from_upstream = bytes_from_upstream + excluded.bytes_from_upstream`)
    this.#sum = db.prepare(`SELECT hour - hour % @bucketMs AS period, site_id AS siteId, repository,
      SUM(requests) AS requests, SUM(hits) AS hits, SUM(misses) AS misses, SUM(bytes_to_clients) AS bytesToClients,
      SUM(bytes_from_upstream) AS bytesFromUpstream,
      SUM(MAX(0, bytes_to_clients - bytes_from_upstream)) AS originEgressSaved
      FROM usage WHERE hour >= @from AND hour < @to
        AND (@siteId IS NULL OR site_id = @siteId) AND (@repository IS NULL OR repository = @repository)
      GROUP BY period, site_id, repository ORDER BY period, site_id, repository`)
  }

  /**
   * Adds a batch's entries unless the batch was counted before; one transaction, so a batch is counted entirely
   * or not at all. Answers whether it was a duplicate.
   */
  addBatch(siteId: string, batch: string, entries: UsageEntry[], now: number): { duplicate: boolean } {
    return this.#db.transaction(() => {
      if (this.#seen.get(siteId, batch)) return { duplicate: true }
      this.#markSeen.run(siteId, batch, now)
      for (const e of entries) this.#add.run({ siteId, ...e })
      return { duplicate: false }
    })()
  }

  /** Sums per period, site and repository, ordered by period, site id, repository. */
  sum(q: UsageQuery): UsageSum[] {
    return this.#sum.all({
      from: q.from,
      to: q.to,
      bucketMs: q.bucketMs,
      siteId: q.siteId ?? null,
      repository: q.repository ?? null,
    })
  }
}
