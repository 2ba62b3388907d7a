import type { Metrics } from '../metrics.ts'
import type { IndexDb } from '../store/index-db.ts'
import { ControlPlaneError, type SiteControlPlaneClient } from './control-plane.ts'
import type { SiteIdentity } from './identity.ts'
import type { SiteTasks } from './tasks.ts'
import type { Usage, UsageEntry } from './usage.ts'

/** Entries per usage batch: a busy hour with many repositories becomes several batches. */
const MAX_ENTRIES_PER_BATCH = 1_000

export interface UsageOutboxOptions {
  client: SiteControlPlaneClient
  tasks: SiteTasks
  index: IndexDb
  usage: Usage
  metrics: Metrics
  /** The site identity, once known: batches are made and delivered only then. */
  identity: () => SiteIdentity | undefined
}

/**
 * The usage outbox: the in-memory counters are closed into batches written to the index (one transaction with
 * the sequence number that names the batch), then delivered in order and deleted only once the control plane
 * acknowledged them, so an unreachable control plane, a lost answer or a restart delays counts but never loses
 * or doubles them (the control plane acknowledges a batch id it has seen again as a duplicate).
 */
export class UsageOutbox {
  readonly #o: UsageOutboxOptions
  #delivering: Promise<void> | undefined
  #failures = 0

  constructor(opts: UsageOutboxOptions) {
    this.#o = opts
  }

  /** The delivery in flight, if any. */
  get inFlight(): Promise<void> | undefined {
    return this.#delivering
  }

  /** Batches waiting in the outbox. */
  get pending(): number {
    return this.#o.index.outboxCount()
  }

  /**
   * Delivers pending batches in order until the outbox is empty or one fails; one delivery runs at a time (a call
   * while one runs waits for it). Answers when done; never throws.
   */
  deliver(signal?: AbortSignal): Promise<void> {
    if (!this.#delivering) {
      // the outbox is SQLite: a failing read of it must not become an unhandled rejection of a background flush
      this.#delivering = this.#deliver(signal ?? this.#o.tasks.signal)
        .catch((err: unknown) =>
          this.#o.tasks.log.error({ err }, 'usage delivery failed; the batches wait in the outbox'),
        )
        .finally(() => (this.#delivering = undefined))
    }
    return this.#delivering
  }

  /** Moves the in-memory counters into outbox batches, when a site id is known (before that they keep counting). */
  closeCounters(): void {
    const id = this.#o.identity()
    const { usage, index, metrics, tasks } = this.#o
    if (!id || usage.pending === 0) return
    const entries = usage.take()
    const chunks: UsageEntry[][] = []
    for (let i = 0; i < entries.length; i += MAX_ENTRIES_PER_BATCH)
      chunks.push(entries.slice(i, i + MAX_ENTRIES_PER_BATCH))
    try {
      const ids = index.addBatches(
        id.siteId,
        chunks.map((c) => (batch: string) => JSON.stringify({ batch, entries: c })),
        tasks.now(),
      )
      metrics.batches('created', ids.length)
    } catch (err) {
      // the index could not take them (a full disk, say): they go with the next flush
      usage.putBack(entries)
      tasks.log.error({ err }, 'cannot write usage batches to the outbox')
    }
  }

  async #deliver(signal: AbortSignal): Promise<void> {
    const id = this.#o.identity()
    const { index, metrics, client, tasks } = this.#o
    const log = tasks.log
    if (!id) return
    for (;;) {
      const pending = index.pendingBatches(id.siteId, 50)
      if (pending.length === 0) return
      for (const b of pending) {
        if (signal.aborted) return
        try {
          const { duplicate } = await client.metrics(id.siteId, id.credential, b.payload, signal)
          index.deleteBatch(b.seq)
          metrics.batches('delivered', 1)
          log.debug({ batch: b.batch, duplicate }, 'usage batch delivered')
          if (this.#failures > 0) {
            tasks.recovered('metrics')
            log.info(
              { controlPlane: client.name, failures: this.#failures },
              'usage batches reach the control plane again',
            )
            this.#failures = 0
          }
        } catch (err) {
          if (signal.aborted && tasks.closed && signal === tasks.signal) return
          const e = err instanceof ControlPlaneError ? err : undefined
          if (
            e?.status !== undefined &&
            e.status >= 400 &&
            e.status < 500 &&
            ![401, 403, 404, 408, 429].includes(e.status)
          ) {
            // the control plane will never take this batch as it is: keep the rest flowing
            index.deleteBatch(b.seq)
            metrics.batches('dropped', 1)
            log.error({ batch: b.batch, err: e }, 'the control plane rejected a usage batch; dropped it')
            continue
          }
          this.#failures++
          tasks.limitedLog(
            'metrics',
            e && !e.transient ? 'error' : 'warn',
            { controlPlane: client.name, batch: b.batch, pending: index.outboxCount(), err },
            'cannot deliver usage batches; they stay in the outbox and are sent again later',
          )
          return
        }
      }
    }
  }
}
