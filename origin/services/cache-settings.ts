import { ApiError } from '../http/api-errors.ts'
import type { AccountsStore } from '../storage/accounts-store.ts'
import type { BlobRedirects } from './blob-redirects.ts'
import { allow, audit, signedIn } from './common.ts'
import { ControlPlaneError, type ControlPlaneClient, type Site } from './control-plane-client.ts'
import type { Events } from './events.ts'
import type { Caller, Permissions } from './permissions.ts'

/** A cache site as /api/v0/caches shows it. */
export interface CacheView {
  id: string
  name: string
  url: string
  region: string | null
  health: { state: string; since: string | null; lastHeartbeatAt: string | null }
}

/** A user's cache setting (DTR's contentCacheUUID) and the site that serves them now. */
export interface CacheSettingsView {
  /** The site the user chose (their explicit assignment on the control plane), or null. */
  cacheSite: string | null
  /** Where the user's pulls go now, and by which assignment rule (`origin`: served by the origin). */
  effectiveCache: { site: string | null; rule: string }
}

export interface CacheSettingsDeps {
  accounts: AccountsStore
  permissions: Permissions
  events: Events
  /** Absent without a control plane: every call is 503. */
  controlPlane?: ControlPlaneClient
  redirects?: BlobRedirects
}

/**
 * The cache sites users may see and the per-user cache setting. Nothing is kept here: the control plane's user
 * assignment is the setting.
 */
export class CacheSettingsService {
  readonly #d: CacheSettingsDeps

  constructor(deps: CacheSettingsDeps) {
    this.#d = deps
  }

  async caches(caller: Caller): Promise<CacheView[]> {
    signedIn(caller)
    const sites = await this.#ask((cp) => cp.listSites())
    return sites.map(cacheView)
  }

  async get(caller: Caller, name: string): Promise<CacheSettingsView> {
    this.#user(caller, name)
    return this.#view(caller, name)
  }

  async update(caller: Caller, name: string, cacheSite: string | null): Promise<CacheSettingsView> {
    this.#user(caller, name)
    let site: string | null = null
    if (cacheSite !== null) {
      const sites = await this.#ask((cp) => cp.listSites())
      const found = sites.find((s) => s.name === cacheSite || s.id === cacheSite)
      if (!found) {
        throw new ApiError('INVALID_USER_SETTINGS', `there is no cache site named "${cacheSite.slice(0, 100)}"`, {
          detail: { known: sites.map((s) => s.name) },
        })
      }
      site = found.name
    }
    const before = await this.#ask((cp) => cp.getUserAssignment(name))
    await this.#ask(async (cp) => {
      try {
        await cp.setUserAssignment(name, site)
      } catch (err) {
        // the site went away between the check and the assignment
        if (err instanceof ControlPlaneError && (err.status === 400 || err.status === 404)) {
          throw new ApiError('INVALID_USER_SETTINGS', `the control plane refused the cache site: ${err.message}`)
        }
        throw err
      }
    })
    if (before !== site) {
      audit(this.#d.events, caller, 'account.settings.update', 'account', name, { cacheSite: { from: before, to: site } })
    }
    return this.#view(caller, name)
  }

  async #view(caller: Caller, name: string): Promise<CacheSettingsView> {
    const assigned = await this.#ask((cp) => cp.getUserAssignment(name))
    // assignments may name a site by id: show names, as the setting takes them
    const cacheSite = assigned?.startsWith('s_') ? ((await this.#ask((cp) => cp.listSites())).find((s) => s.id === assigned)?.name ?? assigned) : assigned
    // the address only counts when users look at their own setting from where they pull
    const address = caller.principal.name === name ? caller.address : undefined
    const resolution = await this.#d.redirects?.resolve(name, address, { fresh: true })
    if (!resolution) throw unavailable()
    return { cacheSite, effectiveCache: { site: resolution.site?.name ?? null, rule: resolution.rule } }
  }

  /** The user account `name`, which the caller may manage; organizations have no cache setting. */
  #user(caller: Caller, name: string): void {
    const p = signedIn(caller)
    const account = this.#d.accounts.byName(name)
    if (!account) throw new ApiError('NOT_FOUND', `no account named "${name.slice(0, 100)}"`)
    if (account.kind !== 'user') {
      throw new ApiError('BAD_REQUEST', `${name} is an organization; cache settings are per user (assign an organization's site on the control plane)`)
    }
    allow(this.#d.permissions.canManageAccount(p, account.id), 'you may change only your own settings')
  }

  async #ask<T>(fn: (cp: ControlPlaneClient) => Promise<T>): Promise<T> {
    const cp = this.#d.controlPlane
    if (!cp) throw new ApiError('UNAVAILABLE', 'no control plane is configured (ORIGIN_CONTROL_PLANE_URL): there are no cache sites')
    try {
      return await fn(cp)
    } catch (err) {
      if (err instanceof ControlPlaneError) throw unavailable(err.message)
      throw err
    }
  }
}

function unavailable(reason?: string): ApiError {
  return new ApiError('UNAVAILABLE', `the control plane cannot be reached${reason ? ` (${reason})` : ''}; try again later`)
}

function cacheView(s: Site): CacheView {
  return {
    id: s.id,
    name: s.name,
    url: s.url,
    region: typeof s.region === 'string' ? s.region : null,
    health: {
      state: s.health?.state ?? 'unknown',
      since: s.health?.since ?? null,
      lastHeartbeatAt: s.health?.lastHeartbeatAt ?? null,
    },
  }
}
