import { ApiError } from '../../lib/api-error.ts'
import {
  AssignmentList,
  BandwidthReport,
  ClientConfig,
  HealthView,
  JoinTokenCreated,
  JoinTokenList,
  NetworkList,
  NetworkView,
  SiteList,
  SiteView,
  type AssignmentView,
} from '../../control-plane/schemas.ts'
import { z } from 'zod'
import { allow, audit, signedIn } from './common.ts'
import { ControlPlaneError, type OriginControlPlaneClient } from './control-plane-client.ts'
import type { Events } from './events.ts'
import type { Caller, Permissions, UserPrincipal } from './permissions.ts'

export interface BandwidthRequest {
  /** ISO times; the control plane's defaults (the last 7 days) when absent. */
  from?: string
  to?: string
  granularity: 'hour' | 'day'
  site?: string
  top: number
}

export interface CacheNetworkDeps {
  permissions: Permissions
  events: Events
  /** Absent without a control plane: every call is 503. */
  controlPlane?: OriginControlPlaneClient
}

/**
 * The cache network as the web UI manages it, for system administrators: sites with their health and usage, join
 * tokens, client networks, assignments, client configuration and bandwidth reports. Everything lives on the control
 * plane; each call goes there with a token the origin mints for the acting admin, so the control plane decides and
 * records who did what, and answers are read with the control plane's own schemas.
 */
export class CacheNetworkService {
  readonly #d: CacheNetworkDeps

  constructor(deps: CacheNetworkDeps) {
    this.#d = deps
  }

  /** Whether a control plane is configured. */
  get configured(): boolean {
    return this.#d.controlPlane !== undefined
  }

  async sites(caller: Caller): Promise<SiteView[]> {
    return (await this.#admin(caller, (cp, a) => cp.asAdmin(a, SiteList, 'GET', '/sites'))).sites
  }

  async site(caller: Caller, ref: string): Promise<{ site: SiteView; health: HealthView }> {
    const path = `/sites/${encodeURIComponent(ref)}`
    return this.#admin(caller, async (cp, a) => ({
      site: await cp.asAdmin(a, SiteView, 'GET', path),
      health: await cp.asAdmin(a, HealthView, 'GET', `${path}/health?limit=50`),
    }))
  }

  async createSite(
    caller: Caller,
    input: { name: string; url: string; region?: string; latitude?: number; longitude?: number; networks?: string[] },
  ): Promise<SiteView> {
    const site = await this.#admin(caller, (cp, a) => cp.asAdmin(a, SiteView, 'POST', '/sites', input))
    audit(this.#d.events, caller, 'site.create', 'site', site.name, { url: site.url })
    return site
  }

  /** The client networks (CIDRs) whose pulls go to this site before any nearest-site rule. */
  async setSiteNetworks(caller: Caller, ref: string, networks: string[]): Promise<SiteView> {
    const site = await this.#admin(caller, (cp, a) =>
      cp.asAdmin(a, SiteView, 'PATCH', `/sites/${encodeURIComponent(ref)}`, { networks }),
    )
    audit(this.#d.events, caller, 'site.update', 'site', site.name, { networks })
    return site
  }

  async deleteSite(caller: Caller, ref: string): Promise<void> {
    await this.#admin(caller, (cp, a) => cp.asAdmin(a, z.unknown(), 'DELETE', `/sites/${encodeURIComponent(ref)}`))
    audit(this.#d.events, caller, 'site.delete', 'site', ref)
  }

  /** A one-use join token for the site (shown once), valid for an hour. */
  async createJoinToken(caller: Caller, site: string): Promise<JoinTokenCreated> {
    const token = await this.#admin(caller, (cp, a) =>
      cp.asAdmin(a, JoinTokenCreated, 'POST', '/join-tokens', { site }),
    )
    audit(this.#d.events, caller, 'site.join-token', 'site', site, { expiresAt: token.expiresAt })
    return token
  }

  async joinTokens(caller: Caller): Promise<z.infer<typeof JoinTokenList>['joinTokens']> {
    return (await this.#admin(caller, (cp, a) => cp.asAdmin(a, JoinTokenList, 'GET', '/join-tokens'))).joinTokens
  }

  async networks(caller: Caller): Promise<NetworkView[]> {
    return (await this.#admin(caller, (cp, a) => cp.asAdmin(a, NetworkList, 'GET', '/networks'))).networks
  }

  async createNetwork(
    caller: Caller,
    input: { cidr: string; latitude: number; longitude: number; label?: string },
  ): Promise<NetworkView> {
    return this.#admin(caller, (cp, a) => cp.asAdmin(a, NetworkView, 'POST', '/networks', input))
  }

  async deleteNetwork(caller: Caller, id: string): Promise<void> {
    await this.#admin(caller, (cp, a) => cp.asAdmin(a, z.unknown(), 'DELETE', `/networks/${encodeURIComponent(id)}`))
  }

  async assignments(caller: Caller): Promise<AssignmentView[]> {
    return (await this.#admin(caller, (cp, a) => cp.asAdmin(a, AssignmentList, 'GET', '/assignments'))).assignments
  }

  /** Sends a user's, team's (`org/team`) or organization's pulls to a site. */
  async assign(caller: Caller, kind: 'user' | 'team' | 'org', subject: string, site: string): Promise<void> {
    await this.#admin(caller, (cp, a) =>
      cp.asAdmin(a, z.unknown(), 'PUT', `/assignments/${kind}/${encodePath(subject)}`, { site }),
    )
    if (kind === 'user') this.#d.controlPlane?.forgetUser(subject)
    audit(this.#d.events, caller, 'assignment.set', 'assignment', `${kind}:${subject}`, { site })
  }

  async unassign(caller: Caller, kind: 'user' | 'team' | 'org', subject: string): Promise<void> {
    await this.#admin(caller, (cp, a) =>
      cp.asAdmin(a, z.unknown(), 'DELETE', `/assignments/${kind}/${encodePath(subject)}`),
    )
    if (kind === 'user') this.#d.controlPlane?.forgetUser(subject)
    audit(this.#d.events, caller, 'assignment.delete', 'assignment', `${kind}:${subject}`)
  }

  /** The files that point each client (docker, containerd, podman) at the site, for pulls from `origin` (a host). */
  async clientConfig(caller: Caller, site: string, origin: string): Promise<ClientConfig> {
    const q = new URLSearchParams({ origin })
    return this.#admin(caller, (cp, a) =>
      cp.asAdmin(a, ClientConfig, 'GET', `/sites/${encodeURIComponent(site)}/client-config?${q}`),
    )
  }

  /** The bandwidth report: the control plane's, unchanged (the page and the API show the same numbers). */
  async bandwidth(caller: Caller, q: BandwidthRequest): Promise<BandwidthReport> {
    return this.#admin(caller, (cp, a) => cp.asAdmin(a, BandwidthReport, 'GET', `/reports/bandwidth?${reportQuery(q)}`))
  }

  /** The same report as CSV, as the control plane writes it. */
  async bandwidthCsv(caller: Caller, q: BandwidthRequest): Promise<string> {
    return this.#admin(caller, (cp, a) => cp.asAdminText(a, `/reports/bandwidth?${reportQuery(q, 'csv')}`))
  }

  async #admin<T>(caller: Caller, fn: (cp: OriginControlPlaneClient, admin: string) => Promise<T>): Promise<T> {
    const p: UserPrincipal = signedIn(caller)
    allow(this.#d.permissions.isAdmin(p), 'only system administrators manage the cache network')
    const cp = this.#d.controlPlane
    if (!cp)
      throw new ApiError(
        'UNAVAILABLE',
        'this origin has no control plane (ORIGIN_CONTROL_PLANE_URL): there are no cache sites to manage',
      )
    try {
      return await fn(cp, p.name)
    } catch (err) {
      if (!(err instanceof ControlPlaneError)) throw err
      if (err.status === 404) throw new ApiError('NOT_FOUND', err.message)
      if (err.status === 400 || err.status === 409)
        throw new ApiError(err.status === 400 ? 'BAD_REQUEST' : 'CONFLICT', err.message)
      throw new ApiError('UNAVAILABLE', `the control plane could not answer: ${err.message}`)
    }
  }
}

function reportQuery(q: BandwidthRequest, format?: 'csv'): URLSearchParams {
  const out = new URLSearchParams({ granularity: q.granularity, top: String(q.top) })
  if (q.from) out.set('from', q.from)
  if (q.to) out.set('to', q.to)
  if (q.site) out.set('site', q.site)
  if (format) out.set('format', format)
  return out
}

/** A subject in a path: a team is `org/team`, each part encoded. */
function encodePath(subject: string): string {
  return subject.split('/').map(encodeURIComponent).join('/')
}
