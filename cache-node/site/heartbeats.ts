import { statfs } from 'node:fs/promises'
import type { Metrics } from '../metrics.ts'
import {
  ControlPlaneError,
  type HeartbeatAnswer,
  type HeartbeatRequest,
  type SiteControlPlaneClient,
} from './control-plane.ts'
import type { SiteIdentity } from './identity.ts'
import type { SiteTasks } from './tasks.ts'
import type { Usage } from './usage.ts'

export interface HeartbeatsOptions {
  client: SiteControlPlaneClient
  tasks: SiteTasks
  metrics: Metrics
  usage: Usage
  publicUrl: URL
  dataDir: string
  capacityBytes: number
  dockerMirror?: string
  version: string
  /** Bytes of cached content on disk. */
  diskUsedBytes: () => number
  /** The site identity, once known: no heartbeat is sent before. */
  identity: () => SiteIdentity | undefined
  /** The pause before the next heartbeat. */
  intervalMs: () => number
  /** Each answer, for the intervals it names. */
  onAnswer: (answer: HeartbeatAnswer) => void
}

/** Sends heartbeats to the control plane: one now, then one each interval after the last ended. */
export class Heartbeats {
  readonly #o: HeartbeatsOptions
  #timer: NodeJS.Timeout | undefined
  #beating: Promise<void> | undefined
  #failures = 0
  #lastAt: number | undefined

  constructor(opts: HeartbeatsOptions) {
    this.#o = opts
  }

  /** When the last heartbeat was answered. */
  get lastAt(): number | undefined {
    return this.#lastAt
  }

  /** The heartbeat in flight, if any. */
  get inFlight(): Promise<void> | undefined {
    return this.#beating
  }

  /** Sends one heartbeat now (the periodic ones go on); never throws. */
  beat(): Promise<void> {
    if (!this.#beating) this.#beating = this.#beat().finally(() => (this.#beating = undefined))
    return this.#beating
  }

  async #beat(): Promise<void> {
    const { client, tasks, metrics } = this.#o
    const id = this.#o.identity()
    if (!id || tasks.closed) return
    tasks.cancel(this.#timer)
    try {
      const body = await this.#body()
      const answer = await client.heartbeat(id.siteId, id.credential, body, tasks.signal)
      this.#o.onAnswer(answer)
      this.#lastAt = tasks.now()
      metrics.heartbeat('ok')
      tasks.recovered('heartbeat')
      if (this.#failures > 0)
        tasks.log.info(
          { controlPlane: client.name, failures: this.#failures },
          'heartbeats reach the control plane again',
        )
      this.#failures = 0
    } catch (err) {
      if (tasks.closed) return
      this.#failures++
      metrics.heartbeat('failed')
      const e = err instanceof ControlPlaneError ? err : undefined
      const level = e && !e.transient ? 'error' : 'warn'
      const msg =
        e?.status === 401 || e?.status === 403 || e?.status === 404
          ? "the control plane refused this site's heartbeat: the site may have been deleted or its credential replaced; remove site.json from the data folder and join again with a new CACHE_JOIN_TOKEN"
          : 'heartbeat failed; the control plane marks this site down after a few missed heartbeats'
      tasks.limitedLog('heartbeat', level, { controlPlane: client.name, failures: this.#failures, err }, msg)
    } finally {
      if (!tasks.closed) this.#timer = tasks.after(this.#o.intervalMs(), () => void this.beat())
    }
  }

  async #body(): Promise<HeartbeatRequest> {
    let diskFreeBytes = 0
    try {
      const s = await statfs(this.#o.dataDir)
      diskFreeBytes = Number(s.bavail) * Number(s.bsize)
    } catch {
      // unknown: report none free rather than fail the heartbeat
    }
    return {
      version: this.#o.version,
      diskUsedBytes: this.#o.diskUsedBytes(),
      diskFreeBytes,
      capacityBytes: this.#o.capacityBytes,
      hitRatio: this.#o.usage.hitRatio(),
      dockerMirror: this.#o.dockerMirror ?? null,
      url: this.#o.publicUrl.href.replace(/\/$/, ''),
    }
  }
}
