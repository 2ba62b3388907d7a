import { statfs } from 'node:fs/promises'
import type { Logger } from 'pino'
import type { Dispatcher } from 'undici'
import type { ControlPlaneConfig } from '../config.ts'
import type { Metrics, SiteGauges } from '../metrics.ts'
import type { IndexDb } from '../store/index-db.ts'
import { SiteControlPlaneClient, ControlPlaneError, type HeartbeatRequest, type JoinAnswer } from './control-plane.ts'
import { isSiteId, saveSiteIdentity, type SiteIdentity } from './identity.ts'
import type { Usage, UsageEntry } from './usage.ts'

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
/** Entries per usage batch: a busy hour with many repositories becomes several batches. */
const MAX_ENTRIES_PER_BATCH = 1_000
/** Repeated failures of the same kind are logged at most this often. */
const LOG_EVERY_MS = 60_000

function defaultJoinRetry(failures: number, refused: boolean): number {
  // a refused token stays refused until an operator acts: ask again only now and then
  if (refused) return 5 * 60_000
  return Math.min(500 * 2 ** Math.min(failures - 1, 10), 60_000)
}

/**
 * This node as a site of the control plane: joins with the join token (or uses the identity in site.json), sends
 * heartbeats, and delivers per-repository usage. Usage is counted in memory, closed into batches every flush
 * interval and written to the outbox in the index (one transaction with the sequence number that names the
 * batch); batches are then delivered in order and deleted only once the control plane acknowledged them, so an
 * unreachable control plane, a lost answer or a restart delays counts but never loses or doubles them (the
 * control plane acknowledges a batch id it has seen again as a duplicate). Nothing here ever blocks serving.
 */
export class SiteAgent {
  readonly #opts: SiteAgentOptions
  readonly #client: SiteControlPlaneClient
  readonly #log: Logger
  readonly #stop = new AbortController()
  #identity: SiteIdentity | undefined
  #heartbeatMs = DEFAULT_HEARTBEAT_MS
  #metricsMs = DEFAULT_METRICS_MS
  #timers = new Set<NodeJS.Timeout>()
  #heartbeatTimer: NodeJS.Timeout | undefined
  #flushTimer: NodeJS.Timeout | undefined
  #delivering: Promise<void> | undefined
  #joining: Promise<void> | undefined
  #heartbeating: Promise<void> | undefined
  #joinFailures = 0
  #heartbeatFailures = 0
  #deliveryFailures = 0
  #lastHeartbeatAt: number | undefined
  #closed = false
  readonly #logged = new Map<string, { at: number; suppressed: number }>()

  constructor(opts: SiteAgentOptions) {
    this.#opts = opts
    this.#identity = opts.identity
    this.#log = opts.log
    this.#client = new SiteControlPlaneClient({
      url: opts.controlPlane.url,
      agent: opts.agent,
      timeoutMs: REQUEST_TIMEOUT_MS,
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
      outboxBatches: this.#opts.index.outboxCount(),
      lastHeartbeatAt: this.#lastHeartbeatAt,
    }
  }

  /** Starts the background work: joining when needed, then heartbeats and usage delivery. Never throws. */
  start(): void {
    this.#scheduleFlush()
    if (this.#identity) this.#joined('stored')
    else void this.#join()
  }

  /** Closes the counters into outbox batches (once a site id is known) and delivers what is pending. */
  async flush(): Promise<void> {
    this.#closeCounters()
    await this.deliver()
  }

  /**
   * Delivers pending batches in order until the outbox is empty or one fails; one delivery runs at a time (a call
   * while one runs waits for it). Answers when done; never throws.
   */
  deliver(signal?: AbortSignal): Promise<void> {
    if (!this.#delivering) {
      // the outbox is SQLite: a failing read of it must not become an unhandled rejection of a background flush
      this.#delivering = this.#deliver(signal ?? this.#stop.signal)
        .catch((err: unknown) => this.#log.error({ err }, 'usage delivery failed; the batches wait in the outbox'))
        .finally(() => (this.#delivering = undefined))
    }
    return this.#delivering
  }

  /** Sends one heartbeat now (the periodic ones go on); never throws. */
  heartbeat(): Promise<void> {
    if (!this.#heartbeating) this.#heartbeating = this.#beat().finally(() => (this.#heartbeating = undefined))
    return this.#heartbeating
  }

  /**
   * Stops the timers and what is in flight, closes the counters into the outbox (so nothing counted is lost once
   * a site id is known), and tries one last delivery with a short timeout. What it cannot deliver waits on disk.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    this.#stop.abort()
    await Promise.allSettled([this.#delivering, this.#joining, this.#heartbeating])
    this.#closeCounters()
    if (this.#identity && this.#opts.index.outboxCount() > 0) await this.deliver(AbortSignal.timeout(CLOSE_DELIVERY_MS))
    const left = this.#opts.index.outboxCount()
    if (left > 0)
      this.#log.info({ batches: left }, 'usage batches left in the outbox; they are delivered after the next start')
  }

  #join(): Promise<void> {
    if (!this.#joining) this.#joining = this.#tryJoin().finally(() => (this.#joining = undefined))
    return this.#joining
  }

  async #tryJoin(): Promise<void> {
    const { controlPlane, publicUrl } = this.#opts
    const token = controlPlane.joinToken
    if (!token) return
    const site = controlPlane.site
    try {
      const answer: JoinAnswer = await this.#client.join(
        token,
        {
          ...(site.name !== undefined ? { name: site.name } : {}),
          url: publicUrl.href.replace(/\/$/, ''),
          ...(site.region !== undefined ? { region: site.region } : {}),
          ...(site.latitude !== undefined ? { latitude: site.latitude, longitude: site.longitude } : {}),
          ...(site.networks.length > 0 ? { networks: site.networks } : {}),
          ...(site.parent !== undefined ? { parent: site.parent } : {}),
          capacityBytes: this.#opts.capacityBytes,
          version: this.#opts.version,
        },
        this.#stop.signal,
      )
      if (this.#closed) return
      if (!isSiteId(answer.site.id))
        throw new ControlPlaneError(
          `control plane ${this.#client.name} answered the join with an unusable site id`,
          200,
        )
      const identity: SiteIdentity = {
        siteId: answer.site.id,
        siteName: answer.site.name,
        credential: answer.credential,
        controlPlaneUrl: controlPlane.url.href,
      }
      // the token is used up now: without the file the identity lasts until the next restart. The file comes
      // first, so whoever sees the node joined finds it on disk too
      await saveSiteIdentity(this.#opts.dataDir, identity).catch((err: unknown) =>
        this.#log.error(
          { err, dataDir: this.#opts.dataDir },
          'joined, but cannot keep the site identity in site.json: the next start will need a new CACHE_JOIN_TOKEN',
        ),
      )
      this.#identity = identity
      this.#intervals(answer)
      this.#log.info(
        { site: identity.siteName, siteId: identity.siteId, controlPlane: this.#client.name },
        'joined the control plane',
      )
      this.#joined('joined')
    } catch (err) {
      if (this.#closed) return
      this.#joinFailures++
      const e = err instanceof ControlPlaneError ? err : undefined
      const refused = e !== undefined && !e.transient
      const delay = (this.#opts.joinRetryMs ?? defaultJoinRetry)(this.#joinFailures, refused)
      if (e?.status === 401) {
        this.#log.error(
          { controlPlane: this.#client.name, retryInMs: delay },
          'the control plane refused CACHE_JOIN_TOKEN: it was already used, expired or revoked. Create a new join token (POST /api/v0/join-tokens, or `wharf join-token create`), set CACHE_JOIN_TOKEN and restart; serving as a plain cache meanwhile',
        )
      } else if (refused) {
        this.#log.error(
          {
            controlPlane: this.#client.name,
            err,
            retryInMs: delay,
          },
          'the control plane refused to let this node join (check the CACHE_SITE_* settings); serving as a plain cache meanwhile',
        )
      } else {
        this.#limitedLog(
          'join',
          'warn',
          { controlPlane: this.#client.name, err, retryInMs: delay },
          'cannot join the control plane yet; serving as a plain cache and retrying in the background',
        )
      }
      this.#after(delay, () => void this.#join())
    }
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

  async #beat(): Promise<void> {
    const id = this.#identity
    if (!id || this.#closed) return
    if (this.#heartbeatTimer) {
      clearTimeout(this.#heartbeatTimer)
      this.#timers.delete(this.#heartbeatTimer)
    }
    try {
      const body = await this.#heartbeatBody()
      const answer = await this.#client.heartbeat(id.siteId, id.credential, body, this.#stop.signal)
      this.#intervals(answer)
      this.#lastHeartbeatAt = this.#opts.now()
      this.#opts.metrics.heartbeat('ok')
      this.#logged.delete('heartbeat')
      if (this.#heartbeatFailures > 0)
        this.#log.info(
          { controlPlane: this.#client.name, failures: this.#heartbeatFailures },
          'heartbeats reach the control plane again',
        )
      this.#heartbeatFailures = 0
    } catch (err) {
      if (this.#closed) return
      this.#heartbeatFailures++
      this.#opts.metrics.heartbeat('failed')
      const e = err instanceof ControlPlaneError ? err : undefined
      const level = e && !e.transient ? 'error' : 'warn'
      const msg =
        e?.status === 401 || e?.status === 403 || e?.status === 404
          ? "the control plane refused this site's heartbeat: the site may have been deleted or its credential replaced; remove site.json from the data folder and join again with a new CACHE_JOIN_TOKEN"
          : 'heartbeat failed; the control plane marks this site down after a few missed heartbeats'
      this.#limitedLog(
        'heartbeat',
        level,
        {
          controlPlane: this.#client.name,
          failures: this.#heartbeatFailures,
          err,
        },
        msg,
      )
    } finally {
      if (!this.#closed) this.#heartbeatTimer = this.#after(this.#heartbeatMs, () => void this.heartbeat())
    }
  }

  async #heartbeatBody(): Promise<HeartbeatRequest> {
    let diskFreeBytes = 0
    try {
      const s = await statfs(this.#opts.dataDir)
      diskFreeBytes = Number(s.bavail) * Number(s.bsize)
    } catch {
      // unknown: report none free rather than fail the heartbeat
    }
    return {
      version: this.#opts.version,
      diskUsedBytes: this.#opts.diskUsedBytes(),
      diskFreeBytes,
      capacityBytes: this.#opts.capacityBytes,
      hitRatio: this.#opts.usage.hitRatio(),
      dockerMirror: this.#opts.dockerMirror ?? null,
      url: this.#opts.publicUrl.href.replace(/\/$/, ''),
    }
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
    if (this.#closed) return
    if (this.#flushTimer) {
      clearTimeout(this.#flushTimer)
      this.#timers.delete(this.#flushTimer)
    }
    this.#flushTimer = this.#after(this.flushIntervalMs, () => {
      this.#flushTimer = undefined
      void this.flush().finally(() => {
        if (!this.#flushTimer) this.#scheduleFlush()
      })
    })
  }

  /** Moves the in-memory counters into outbox batches, when a site id is known (before that they keep counting). */
  #closeCounters(): void {
    const id = this.#identity
    const { usage, index, metrics } = this.#opts
    if (!id || usage.pending === 0) return
    const entries = usage.take()
    const chunks: UsageEntry[][] = []
    for (let i = 0; i < entries.length; i += MAX_ENTRIES_PER_BATCH)
      chunks.push(entries.slice(i, i + MAX_ENTRIES_PER_BATCH))
    try {
      const ids = index.addBatches(
        id.siteId,
        chunks.map((c) => (batch: string) => JSON.stringify({ batch, entries: c })),
        this.#opts.now(),
      )
      metrics.batches('created', ids.length)
    } catch (err) {
      // the index could not take them (a full disk, say): they go with the next flush
      usage.putBack(entries)
      this.#log.error({ err }, 'cannot write usage batches to the outbox')
    }
  }

  async #deliver(signal: AbortSignal): Promise<void> {
    const id = this.#identity
    const { index, metrics } = this.#opts
    if (!id) return
    for (;;) {
      const pending = index.pendingBatches(id.siteId, 50)
      if (pending.length === 0) return
      for (const b of pending) {
        if (signal.aborted) return
        try {
          const { duplicate } = await this.#client.metrics(id.siteId, id.credential, b.payload, signal)
          index.deleteBatch(b.seq)
          metrics.batches('delivered', 1)
          this.#log.debug({ batch: b.batch, duplicate }, 'usage batch delivered')
          if (this.#deliveryFailures > 0) {
            this.#logged.delete('metrics')
            this.#log.info(
              { controlPlane: this.#client.name, failures: this.#deliveryFailures },
              'usage batches reach the control plane again',
            )
            this.#deliveryFailures = 0
          }
        } catch (err) {
          if (signal.aborted && this.#closed && signal === this.#stop.signal) return
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
            this.#log.error({ batch: b.batch, err: e }, 'the control plane rejected a usage batch; dropped it')
            continue
          }
          this.#deliveryFailures++
          this.#limitedLog(
            'metrics',
            e && !e.transient ? 'error' : 'warn',
            {
              controlPlane: this.#client.name,
              batch: b.batch,
              pending: index.outboxCount(),
              err,
            },
            'cannot deliver usage batches; they stay in the outbox and are sent again later',
          )
          return
        }
      }
    }
  }

  #after(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.#timers.delete(t)
      if (!this.#closed) fn()
    }, ms)
    t.unref()
    this.#timers.add(t)
    return t
  }

  /** Logs the first failure of a kind, then at most once a minute with how many were not logged. */
  #limitedLog(key: string, level: 'warn' | 'error', obj: Record<string, unknown>, msg: string): void {
    const now = this.#opts.now()
    const last = this.#logged.get(key)
    if (last && now - last.at < LOG_EVERY_MS) {
      last.suppressed++
      return
    }
    this.#logged.set(key, { at: now, suppressed: 0 })
    this.#log[level]({ ...obj, ...(last?.suppressed ? { notLogged: last.suppressed } : {}) }, msg)
  }
}
