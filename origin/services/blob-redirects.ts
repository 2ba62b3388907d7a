import type { Logger } from 'pino'
import type { AccountsStore } from '../storage/accounts-store.ts'
import type { BlobGrants } from './blob-grants.ts'
import type { OriginControlPlaneClient, Resolution } from './control-plane-client.ts'

export interface RedirectTarget {
  /** The cache URL with the grant: the redirect's Location. */
  location: string
  site: string
  rule: string
}

/**
 * Decides whether a blob GET goes to a cache site: asks the control plane which site serves the caller (their
 * teams, organizations and address) and, with one, makes the grant and the cache URL. Any failure means "serve
 * it here"; counts the redirects per site.
 */
export class BlobRedirects {
  readonly #controlPlane: OriginControlPlaneClient
  readonly #grants: BlobGrants
  readonly #accounts: AccountsStore
  readonly #log: Logger
  readonly #counts = new Map<string, number>()

  constructor(deps: {
    controlPlane: OriginControlPlaneClient
    grants: BlobGrants
    accounts: AccountsStore
    log: Logger
  }) {
    this.#controlPlane = deps.controlPlane
    this.#grants = deps.grants
    this.#accounts = deps.accounts
    this.#log = deps.log
  }

  /** The user's teams (`org/team`) and organizations, as the control plane's assignment rules name them. */
  membershipOf(user: string): { teams: string[]; orgs: string[] } {
    const account = user ? this.#accounts.byName(user) : undefined
    if (!account || account.kind !== 'user') return { teams: [], orgs: [] }
    return {
      teams: this.#accounts.teamsOf(account.id).map((t) => `${t.org}/${t.name}`),
      orgs: this.#accounts.orgsOf(account.id).map((o) => o.name),
    }
  }

  /** Which site serves this user from this address, by which rule; null when the control plane cannot tell now. */
  resolve(user: string, address: string | undefined, opts: { fresh?: boolean } = {}): Promise<Resolution | null> {
    return this.#controlPlane.resolve({ user, ...this.membershipOf(user), address: address ?? '' }, opts)
  }

  /** Where to send a blob GET, or undefined to serve it from the origin. Never throws. */
  async target(q: {
    subject: string
    repository: string
    digest: string
    address: string
  }): Promise<RedirectTarget | undefined> {
    try {
      const resolution = await this.resolve(q.subject, q.address)
      const site = resolution?.site
      if (!site) return undefined
      const grant = await this.#grants.mint({
        subject: q.subject,
        repository: q.repository,
        digest: q.digest,
        sites: site.chain,
      })
      const base = site.url.replace(/\/+$/, '')
      const location = `${base}/v2/${q.repository}/blobs/${q.digest}?grant=${encodeURIComponent(grant)}`
      this.#counts.set(site.name, (this.#counts.get(site.name) ?? 0) + 1)
      return { location, site: site.name, rule: resolution.rule }
    } catch (err) {
      this.#log.error({ err }, 'could not prepare a cache redirect; serving the blob from the origin')
      return undefined
    }
  }

  /** Redirects made so far, per site name. */
  counts(): Record<string, number> {
    return Object.fromEntries(this.#counts)
  }
}
