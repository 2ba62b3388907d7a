import type { MetricsBatch } from '../schemas.ts'
import type { UsageEntry, UsageStore } from '../storage/usage-store.ts'

/** Metrics from cache nodes: idempotent by (site, batch). */
export class MetricsService {
  readonly #usage: UsageStore
  readonly #now: () => number

  constructor(usage: UsageStore, now: () => number) {
    this.#usage = usage
    this.#now = now
  }

  /** Counts a batch from a site unless it was counted before. */
  ingest(siteId: string, input: MetricsBatch): { batch: string; duplicate: boolean } {
    const entries: UsageEntry[] = input.entries.map((e) => ({
      repository: e.repository,
      hour: e.hour,
      requests: e.requests,
      hits: e.hits,
      misses: e.misses,
      bytesToClients: e.bytesToClients,
      bytesFromUpstream: e.bytesFromUpstream,
    }))
    return { batch: input.batch, ...this.#usage.addBatch(siteId, input.batch, entries, this.#now()) }
  }
}
