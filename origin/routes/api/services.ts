import type { OriginDeps } from '../../deps.ts'
import { AccountsService } from '../../services/accounts.ts'
import { AuditLog } from '../../services/audit.ts'
import { CacheNetworkService } from '../../services/cache-network.ts'
import { CacheSettingsService } from '../../services/cache-settings.ts'
import { GrantsService } from '../../services/grants.ts'
import { ImagesService } from '../../services/images.ts'
import { OrgsService } from '../../services/orgs.ts'
import { PersonalTokensService } from '../../services/personal-tokens.ts'
import { RepositoriesService } from '../../services/repositories.ts'
import { RobotsService } from '../../services/robots.ts'
import { SessionsService } from '../../services/sessions.ts'
import { SettingsService } from '../../services/settings.ts'

/** The services behind /api/v0, one per area. */
export interface ApiServices {
  accounts: AccountsService
  orgs: OrgsService
  repositories: RepositoriesService
  images: ImagesService
  grants: GrantsService
  tokens: PersonalTokensService
  robots: RobotsService
  settings: SettingsService
  audit: AuditLog
  sessions: SessionsService
  caches: CacheSettingsService
  network: CacheNetworkService
}

export function createApiServices(deps: OriginDeps): ApiServices {
  const { accounts, accessStore: access, auth, permissions, events, settings, keys } = deps.identity
  const { meta, now } = deps
  const repositories = new RepositoriesService({ meta, accounts, access, permissions, events, now })
  return {
    accounts: new AccountsService({ accounts, access, auth, permissions, events, meta, now }),
    orgs: new OrgsService({ accounts, access, auth, permissions, events, now }),
    repositories,
    images: new ImagesService({
      meta,
      registry: deps.registry,
      blobs: deps.blobs,
      repositories,
      permissions,
      log: deps.log.child({ component: 'images' }),
    }),
    grants: new GrantsService({ accounts, access, permissions, repositories, events, now }),
    tokens: new PersonalTokensService({ accounts, access, auth, permissions, events, now }),
    robots: new RobotsService({ accounts, access, auth, permissions, events, now }),
    settings: new SettingsService({ settings, permissions, keys, events }),
    audit: new AuditLog({ events, permissions, repositories }),
    sessions: new SessionsService({ auth, events }),
    network: new CacheNetworkService({ permissions, events, controlPlane: deps.network.controlPlane }),
    caches: new CacheSettingsService({
      accounts,
      permissions,
      events,
      controlPlane: deps.network.controlPlane,
      redirects: deps.network.redirects,
    }),
  }
}
