import type { Logger } from 'pino'
import type { OriginConfig } from './config.ts'
import { TrustedProxies } from './http/client-address.ts'
import type { Identity } from './identity.ts'
import { BlobGrants } from './services/blob-grants.ts'
import { BlobRedirects } from './services/blob-redirects.ts'
import { ControlPlaneClient } from './services/control-plane-client.ts'

/** The origin's part in the cache network (docs/network-protocol.md). */
export interface Network {
  /** Makes and checks the grants of redirected blob pulls; always present (grants are accepted without a control plane). */
  grants: BlobGrants
  /** Absent without ORIGIN_CONTROL_PLANE_URL: then nothing is ever redirected. */
  controlPlane?: ControlPlaneClient
  redirects?: BlobRedirects
  /** Which peers' X-Forwarded-For is believed. */
  proxies: TrustedProxies
}

/** Builds the network services; no I/O happens until a request needs the control plane. */
export function createNetwork(config: Readonly<OriginConfig>, identity: Identity, log: Logger, now: () => number): Network {
  const { keys, tokens, accounts } = identity
  const grants = new BlobGrants({ keys, issuer: tokens.issuer, ttlSeconds: Math.round(config.grantTtlMs / 1000), now })
  const proxies = new TrustedProxies(config.trustedProxies)
  if (!config.controlPlaneUrl) return { grants, proxies }
  const controlPlane = new ControlPlaneClient({
    baseUrl: config.controlPlaneUrl,
    keys,
    issuer: tokens.issuer,
    audience: tokens.service,
    cacheTtlMs: config.assignmentTtlMs,
    now,
    log: log.child({ component: 'control-plane' }),
  })
  const redirects = new BlobRedirects({ controlPlane, grants, accounts, log: log.child({ component: 'redirects' }) })
  return { grants, proxies, controlPlane, redirects }
}
