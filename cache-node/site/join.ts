import type { ControlPlaneConfig } from '../config.ts'
import { ControlPlaneError, type JoinAnswer, type SiteControlPlaneClient } from './control-plane.ts'
import { isSiteId, saveSiteIdentity, type SiteIdentity } from './identity.ts'
import type { SiteTasks } from './tasks.ts'

export interface SiteJoinOptions {
  controlPlane: ControlPlaneConfig
  publicUrl: URL
  dataDir: string
  capacityBytes: number
  version: string
  client: SiteControlPlaneClient
  tasks: SiteTasks
  /** Pauses between join attempts after a failure n (1-based) of the kind given. */
  joinRetryMs?: (failures: number, refused: boolean) => number
  /** Called once joined, with the identity (kept in site.json when it could be written) and the control plane's answer. */
  onJoined: (identity: SiteIdentity, answer: JoinAnswer) => void
}

function defaultJoinRetry(failures: number, refused: boolean): number {
  // a refused token stays refused until an operator acts: ask again only now and then
  if (refused) return 5 * 60_000
  return Math.min(500 * 2 ** Math.min(failures - 1, 10), 60_000)
}

/** Joins the control plane with CACHE_JOIN_TOKEN, retrying in the background until it succeeds or is closed. */
export class SiteJoin {
  readonly #o: SiteJoinOptions
  #joining: Promise<void> | undefined
  #failures = 0

  constructor(opts: SiteJoinOptions) {
    this.#o = opts
  }

  /** The attempt in flight, if any. */
  get inFlight(): Promise<void> | undefined {
    return this.#joining
  }

  /** Starts an attempt (or answers the one running); never throws. */
  join(): Promise<void> {
    if (!this.#joining) this.#joining = this.#tryJoin().finally(() => (this.#joining = undefined))
    return this.#joining
  }

  async #tryJoin(): Promise<void> {
    const { controlPlane, publicUrl, client, tasks } = this.#o
    const log = tasks.log
    const token = controlPlane.joinToken
    if (!token) return
    const site = controlPlane.site
    try {
      const answer: JoinAnswer = await client.join(
        token,
        {
          ...(site.name !== undefined ? { name: site.name } : {}),
          url: publicUrl.href.replace(/\/$/, ''),
          ...(site.region !== undefined ? { region: site.region } : {}),
          ...(site.latitude !== undefined ? { latitude: site.latitude, longitude: site.longitude } : {}),
          ...(site.networks.length > 0 ? { networks: site.networks } : {}),
          ...(site.parent !== undefined ? { parent: site.parent } : {}),
          capacityBytes: this.#o.capacityBytes,
          version: this.#o.version,
        },
        tasks.signal,
      )
      if (tasks.closed) return
      if (!isSiteId(answer.site.id))
        throw new ControlPlaneError(`control plane ${client.name} answered the join with an unusable site id`, 200)
      const identity: SiteIdentity = {
        siteId: answer.site.id,
        siteName: answer.site.name,
        credential: answer.credential,
        controlPlaneUrl: controlPlane.url.href,
      }
      // the token is used up now: without the file the identity lasts until the next restart. The file comes
      // first, so whoever sees the node joined finds it on disk too
      await saveSiteIdentity(this.#o.dataDir, identity).catch((err: unknown) =>
        log.error(
          { err, dataDir: this.#o.dataDir },
          'joined, but cannot keep the site identity in site.json: the next start will need a new CACHE_JOIN_TOKEN',
        ),
      )
      this.#o.onJoined(identity, answer)
    } catch (err) {
      if (tasks.closed) return
      this.#failures++
      const e = err instanceof ControlPlaneError ? err : undefined
      const refused = e !== undefined && !e.transient
      const delay = (this.#o.joinRetryMs ?? defaultJoinRetry)(this.#failures, refused)
      if (e?.status === 401) {
        log.error(
          { controlPlane: client.name, retryInMs: delay },
          'the control plane refused CACHE_JOIN_TOKEN: it was already used, expired or revoked. Create a new join token (POST /api/v0/join-tokens, or `wharf join-token create`), set CACHE_JOIN_TOKEN and restart; serving as a plain cache meanwhile',
        )
      } else if (refused) {
        log.error(
          { controlPlane: client.name, err, retryInMs: delay },
          'the control plane refused to let this node join (check the CACHE_SITE_* settings); serving as a plain cache meanwhile',
        )
      } else {
        tasks.limitedLog(
          'join',
          'warn',
          { controlPlane: client.name, err, retryInMs: delay },
          'cannot join the control plane yet; serving as a plain cache and retrying in the background',
        )
      }
      tasks.after(delay, () => void this.join())
    }
  }
}
