import { ApiError } from '../../lib/api-error.ts'
import type { AccountsStore } from '../storage/accounts-store.ts'
import type { BlobRedirects } from './blob-redirects.ts'
import { allow, audit, signedIn } from './common.ts'
import { ControlPlaneError, type OriginControlPlaneClient, type Site } from './control-plane-client.ts'
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

/** A cache site as DTR's /api/v0/content_caches shows it: the site's id, name and the URL clients are sent to. */
export interface ContentCacheView {
  id: string
  name: string
  host: string
}

/** A user's cache setting (DTR's contentCacheUUID) and the site that serves them now. */
export interface CacheSettingsView {
  /** The site the user chose (their explicit assignment on the control plane), or null. */
  cacheSite: string | null
  /** The same site's id, as DTR's `responses.UserSettings` spells it; '' when none is chosen. */
  ContentCacheUUID: string
  /** Where the user's pulls go now, and by which assignment rule (`origin`: served by the origin). */
  effectiveCache: { site: string | null; rule: string }
}

export interface CacheSettingsDeps {
  accounts: AccountsStore
  permissions: Permissions
  events: Events
  /** Absent without a control plane: every call is 503. */
  controlPlane?: OriginControlPlaneClient
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

  /** Whether a control plane is configured, so that cache sites exist at all. */
  get configured(): boolean {
    return this.#d.controlPlane !== undefined
  }

  /** DTR's content caches: every site of the control plane, to any signed-in user. */
  async contentCaches(caller: Caller): Promise<ContentCacheView[]> {
    signedIn(caller)
    return (await this.#ask((cp) => cp.listSites())).map(contentCacheView)
  }

  async contentCache(caller: Caller, ref: string): Promise<ContentCacheView> {
    signedIn(caller)
    const site = await this.#ask((cp) => cp.getSite(ref))
    if (!site) throw new ApiError('NO_SUCH_CONTENT_CACHE', `there is no content cache "${ref.slice(0, 100)}"`)
    return contentCacheView(site)
  }

  /** Registers a cache site (system admins): `host` is where clients are redirected. */
  async createContentCache(caller: Caller, input: { name: string; host: string }): Promise<ContentCacheView> {
    const admin = this.#admin(caller)
    const site = await this.#ask(
      (cp) => cp.createSite(admin, { name: input.name, url: input.host }),
      (err) => {
        if (err.status === 400) return new ApiError('BAD_REQUEST', `invalid content cache details: ${err.message}`)
        if (err.status === 409) return new ApiError('CONFLICT', `a content cache named "${input.name}" exists already`)
        return undefined
      },
    )
    audit(this.#d.events, caller, 'cache.create', 'cache', site.name, { id: site.id, host: site.url })
    return contentCacheView(site)
  }

  /** Removes a cache site (system admins); removing one that does not exist succeeds, as in DTR. */
  async deleteContentCache(caller: Caller, ref: string): Promise<void> {
    const admin = this.#admin(caller)
    if (await this.#ask((cp) => cp.deleteSite(admin, ref))) audit(this.#d.events, caller, 'cache.delete', 'cache', ref)
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
      audit(this.#d.events, caller, 'account.settings.update', 'account', name, {
        cacheSite: { from: before, to: site },
      })
    }
    return this.#view(caller, name)
  }

  async #view(caller: Caller, name: string): Promise<CacheSettingsView> {
    const assigned = await this.#ask((cp) => cp.getUserAssignment(name))
    // assignments may name a site by id or name: show both, the name as cacheSite and the id as DTR's UUID
    const site =
      assigned === null
        ? undefined
        : (await this.#ask((cp) => cp.listSites())).find((s) => s.id === assigned || s.name === assigned)
    const cacheSite = site?.name ?? assigned
    // the address only counts when users look at their own setting from where they pull
    const address = caller.principal.name === name ? caller.address : undefined
    const resolution = await this.#d.redirects?.resolve(name, address, { fresh: true })
    if (!resolution) throw unavailable()
    return {
      cacheSite,
      ContentCacheUUID: site?.id ?? '',
      effectiveCache: { site: resolution.site?.name ?? null, rule: resolution.rule },
    }
  }

  /** The user account `name`, which the caller may manage; organizations have no cache setting. */
  #user(caller: Caller, name: string): void {
    const p = signedIn(caller)
    const account = this.#d.accounts.byName(name)
    if (!account) throw new ApiError('NOT_FOUND', `no account named "${name.slice(0, 100)}"`)
    if (account.kind !== 'user') {
      throw new ApiError(
        'BAD_REQUEST',
        `${name} is an organization; cache settings are per user (assign an organization's site on the control plane)`,
      )
    }
    allow(this.#d.permissions.canManageAccount(p, account.id), 'you may change only your own settings')
  }

  /** The caller's name when they are a system administrator; else 403. */
  #admin(caller: Caller): string {
    const p = signedIn(caller)
    allow(this.#d.permissions.isAdmin(p), 'only system administrators register and remove content caches')
    return p.name
  }

  /** Runs `fn` against the control plane; its refusals become `refusal(err)` when that gives an error, else 503. */
  async #ask<T>(
    fn: (cp: OriginControlPlaneClient) => Promise<T>,
    refusal: (err: ControlPlaneError) => ApiError | undefined = () => undefined,
  ): Promise<T> {
    const cp = this.#d.controlPlane
    if (!cp)
      throw new ApiError(
        'UNAVAILABLE',
        'no control plane is configured (ORIGIN_CONTROL_PLANE_URL): there are no cache sites',
      )
    try {
      return await fn(cp)
    } catch (err) {
      if (err instanceof ControlPlaneError) throw refusal(err) ?? unavailable(err.message)
      throw err
    }
  }
}

function unavailable(reason?: string): ApiError {
  return new ApiError(
    'UNAVAILABLE',
    `the control plane cannot be reached${reason ? ` (${reason})` : ''}; try again later`,
  )
}

function contentCacheView(s: Site): ContentCacheView {
  return { id: s.id, name: s.name, host: s.url }
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
