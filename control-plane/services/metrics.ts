import { badRequest } from '../errors.ts'
import type { UsageEntry, UsageStore } from '../storage/usage-store.ts'
import { int, isoTime, object, str } from './input.ts'

/** Most entries one metrics batch may carry. */
export const MAX_BATCH_ENTRIES = 10_000
const HOUR_MS = 3_600_000

/** Metrics from cache nodes: idempotent by (site, batch). */
export class MetricsService {
  readonly #usage: UsageStore
  readonly #now: () => number

  constructor(usage: UsageStore, now: () => number) {
    this.#usage = usage
    this.#now = now
  }

  /** Counts a batch from a site unless it was counted before. */
  ingest(siteId: string, body: unknown): { batch: string; duplicate: boolean } {
    const input = object(body)
    const batch = str(input.batch, 'batch', { max: 128 })
    if (!Array.isArray(input.entries) || input.entries.length > MAX_BATCH_ENTRIES)
      throw badRequest(`entries must be an array of at most ${MAX_BATCH_ENTRIES} entries`)
    const entries = input.entries.map((e, i) => parseEntry(e, `entries[${i}]`))
    return { batch, ...this.#usage.addBatch(siteId, batch, entries, this.#now()) }
  }
}

function parseEntry(v: unknown, key: string): UsageEntry {
  // unknown keys (a newer node's extra counters) are ignored
  const e = object(v, key)
  const hour = isoTime(e.hour, `${key}.hour`)
  if (hour % HOUR_MS !== 0) throw badRequest(`${key}.hour must be the start of a UTC hour, such as 2026-11-23T14:00:00.000Z`)
  const count = (name: string) => (e[name] === undefined ? 0 : int(e[name], `${key}.${name}`))
  return {
    repository: str(e.repository, `${key}.repository`),
    hour,
    requests: count('requests'),
    hits: count('hits'),
    misses: count('misses'),
    bytesToClients: count('bytesToClients'),
    bytesFromUpstream: count('bytesFromUpstream'),
  }
}
