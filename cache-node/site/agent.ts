import type { Logger } from 'pino'
import type { Dispatcher } from 'undici'
import type { ControlPlaneConfig } from '../config.ts'
import type { Metrics, SiteGauges } from '../metrics.ts'
import type { IndexDb } from '../store/index-db.ts'
import { SiteControlPlaneClient, type JoinAnswer } from './control-plane.ts'
import { Heartbeats } from './heartbeats.ts'
import type { SiteIdentity } from './identity.ts'
import { SiteJoin } from './join.ts'
import { SiteTasks } from './tasks.ts'
import { UsageOutbox } from './usage-outbox.ts'
import type { Usage } from './usage.ts'

export interface SiteAgentOptions {
  controlPlane: ControlPlaneConfig
  /** The site's URL: how clients reach this node (CACHE_PUBLIC_URL, or derived). */
  publicUrl: URL
  dataDir: string
  capacityBytes: number
  /** The registry docker's mirror requests are sent to (CACHE_DOCKER_MIRROR), told in heartbeats. */
  dockerMirror?: string
  version: string
  /** What site.json held at start, if it was for this control plane. */
  identity: SiteIdentity | undefined
  index: IndexDb
  usage: Usage
  metrics: Metrics
  /** Bytes of cached content on disk. */
  diskUsedBytes: () => number
  agent: Dispatcher
  log: Logger
  now: () => number
  /** Pauses between join attempts after a failure n (1-based) of the kind given. */
  joinRetryMs?: (failures: number, refused: boolean) => number
}

/** Until the control plane says otherwise. */
const DEFAULT_HEARTBEAT_MS = 15_000
const DEFAULT_METRICS_MS = 60_000
const MIN_INTERVAL_MS = 100
const REQUEST_TIMEOUT_MS = 10_000
/** On a graceful stop, the last delivery of usage batches gets this long. */
const CLOSE_DELIVERY_MS = 2_000

/**
 * This node as a site of the control plane: joins with the join token (join.ts) or uses the identity in
 * site.json, sends heartbeats (heartbeats.ts) and delivers per-repository usage through the outbox
 * (usage-outbox.ts), flushing the counters into it every flush interval. Nothing here ever blocks serving.
 */
export class SiteAgent {
  readonly #opts: SiteAgentOptions
  readonly #client: SiteControlPlaneClient
  readonly #log: Logger
  readonly #tasks: SiteTasks
  readonly #join: SiteJoin
  readonly #heartbeats: Heartbeats
  readonly #outbox: UsageOutbox
  #identity: SiteIdentity | undefined
  #heartbeatMs = DEFAULT_HEARTBEAT_MS
  #metricsMs = DEFAULT_METRICS_MS
  #flushTimer: NodeJS.Timeout | undefined

  constructor(opts: SiteAgentOptions) {
    this.#opts = opts
    this.#identity = opts.identity
    this.#log = opts.log
    this.#tasks = new SiteTasks(opts.log, opts.now)
    const client = new SiteControlPlaneClient({
      url: opts.controlPlane.url,
      agent: opts.agent,
      timeoutMs: REQUEST_TIMEOUT_MS,
    })
    this.#client = client
    const tasks = this.#tasks
    const identity = () => this.#identity
    this.#join = new SiteJoin({
      controlPlane: opts.controlPlane,
      publicUrl: opts.publicUrl,
      dataDir: opts.dataDir,
      capacityBytes: opts.capacityBytes,
      version: opts.version,
      client,
      tasks,
      ...(opts.joinRetryMs ? { joinRetryMs: opts.joinRetryMs } : {}),
      onJoined: (id, answer) => this.#onJoined(id, answer),
    })
    this.#heartbeats = new Heartbeats({
      client,
      tasks,
      metrics: opts.metrics,
      usage: opts.usage,
      publicUrl: opts.publicUrl,
      dataDir: opts.dataDir,
      capacityBytes: opts.capacityBytes,
      ...(opts.dockerMirror !== undefined ? { dockerMirror: opts.dockerMirror } : {}),
      version: opts.version,
      diskUsedBytes: opts.diskUsedBytes,
      identity,
      intervalMs: () => this.#heartbeatMs,
      onAnswer: (answer) => this.#intervals(answer),
    })
    this.#outbox = new UsageOutbox({
      client,
      tasks,
      index: opts.index,
      usage: opts.usage,
      metrics: opts.metrics,
      identity,
    })
  }

  /** The site identity once joined. */
  identity(): SiteIdentity | undefined {
    return this.#identity
  }

  get heartbeatIntervalMs(): number {
    return this.#heartbeatMs
  }

  /** How often usage is closed into a batch: CACHE_METRICS_FLUSH, else what the control plane says. */
  get flushIntervalMs(): number {
    return this.#opts.controlPlane.metricsFlushMs ?? this.#metricsMs
  }

  gauges(): SiteGauges {
    return {
      joined: this.#identity !== undefined,
      outboxBatches: this.#outbox.pending,
      lastHeartbeatAt: this.#heartbeats.lastAt,
    }
  }

  /** Starts the background work: joining when needed, then heartbeats and usage delivery. Never throws. */
  start(): void {
    this.#scheduleFlush()
    if (this.#identity) this.#joined('stored')
    else void this.#join.join()
  }

  /** Closes the counters into outbox batches (once a site id is known) and delivers what is pending. */
  async flush(): Promise<void> {
    this.#outbox.closeCounters()
    await this.deliver()
  }

  /**
   * Delivers pending batches in order until the outbox is empty or one fails; one delivery runs at a time (a call
   * while one runs waits for it). Answers when done; never throws.
   */
  deliver(signal?: AbortSignal): Promise<void> {
    return this.#outbox.deliver(signal)
  }

  /** Sends one heartbeat now (the periodic ones go on); never throws. */
  heartbeat(): Promise<void> {
    return this.#heartbeats.beat()
  }

  /**
   * Stops the timers and what is in flight, closes the counters into the outbox (so nothing counted is lost once
   * a site id is known), and tries one last delivery with a short timeout. What it cannot deliver waits on disk.
   */
  async close(): Promise<void> {
    if (this.#tasks.closed) return
    this.#tasks.close()
    await Promise.allSettled([this.#outbox.inFlight, this.#join.inFlight, this.#heartbeats.inFlight])
    this.#outbox.closeCounters()
    if (this.#identity && this.#outbox.pending > 0) await this.deliver(AbortSignal.timeout(CLOSE_DELIVERY_MS))
    const left = this.#outbox.pending
    if (left > 0)
      this.#log.info({ batches: left }, 'usage batches left in the outbox; they are delivered after the next start')
  }

  #onJoined(identity: SiteIdentity, answer: JoinAnswer): void {
    this.#identity = identity
    this.#intervals(answer)
    this.#log.info(
      { site: identity.siteName, siteId: identity.siteId, controlPlane: this.#client.name },
      'joined the control plane',
    )
    this.#joined('joined')
  }

  /** A site identity is known: heartbeats start, and batches are made from what was counted so far. */
  #joined(how: 'stored' | 'joined'): void {
    const id = this.#identity!
    const dropped = this.#opts.index.dropBatchesNotOf(id.siteId)
    if (dropped > 0) {
      this.#opts.metrics.batches('dropped', dropped)
      this.#log.warn(
        { dropped, siteId: id.siteId },
        'dropped usage batches made under an earlier site identity (they cannot be delivered with this one)',
      )
    }
    if (how === 'stored')
      this.#log.info(
        { site: id.siteName, siteId: id.siteId, controlPlane: this.#client.name },
        'using the stored site identity',
      )
    void this.heartbeat()
    void this.flush()
  }

  #intervals(a: { heartbeatIntervalMs?: unknown; metricsIntervalMs?: unknown }): void {
    const ok = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= MIN_INTERVAL_MS
    if (ok(a.heartbeatIntervalMs)) this.#heartbeatMs = a.heartbeatIntervalMs
    if (ok(a.metricsIntervalMs) && a.metricsIntervalMs !== this.#metricsMs) {
      this.#metricsMs = a.metricsIntervalMs
      if (this.#opts.controlPlane.metricsFlushMs === undefined) this.#scheduleFlush()
    }
  }

  #scheduleFlush(): void {
    if (this.#tasks.closed) return
    this.#tasks.cancel(this.#flushTimer)
    this.#flushTimer = this.#tasks.after(this.flushIntervalMs, () => {
      this.#flushTimer = undefined
      void this.flush().finally(() => {
        if (!this.#flushTimer) this.#scheduleFlush()
      })
    })
  }
}
