import { resolve } from 'node:path'
import ipaddr from 'ipaddr.js'
import { ConfigProblems, parseBytes, type Env, type ProgramConfig } from '../lib/config.ts'
import { NAME_RE } from '../oci/reference.ts'

/**
 * A registry the cache fills from. `wharf` upstreams (the origin, or a parent cache in front of it) are governed by
 * the origin's tokens: the caller's own bearer token is forwarded. `foreign` upstreams (Docker Hub, ghcr.io, any
 * OCI registry) are read anonymously: the cache asks their token realm for an anonymous token, never sends a
 * caller's credentials there, and so only ever holds what that registry serves to anybody.
 */
export interface UpstreamConfig {
  /** Names the upstream's namespace in the index: `wharf` for the default upstream, else the URL's origin. */
  key: string
  url: URL
  kind: 'wharf' | 'foreign'
}

/** How a request reaches a foreign upstream: by containerd's `?ns=<registry>`, or by a repository-name prefix. */
export type UpstreamRule =
  { match: 'ns'; ns: string; upstream: UpstreamConfig } | { match: 'prefix'; prefix: string; upstream: UpstreamConfig }

export { withBoundPort } from '../lib/config.ts'

export interface CacheConfig extends ProgramConfig {
  /** The index database, the blob files and fills in progress. */
  dataDir: string
  /** How clients reach this cache. */
  publicUrl: URL
  /** The origin whose token service and JWKS this cache trusts. */
  originUrl: URL
  /** Where requests go that no rule sends elsewhere: the origin or a parent cache. */
  upstream: UpstreamConfig
  /** Foreign upstreams, in CACHE_UPSTREAMS order. */
  rules: UpstreamRule[]
  /** The `ns` rule that answers docker's registry-mirrors requests (no `ns`): official images (`library/<name>`). */
  dockerMirror?: string
  /**
   * Which requests without `ns` go to the docker mirror: `library` (official images only; other names go to the
   * default upstream) or `all` (a cache dedicated to mirroring Docker Hub for dockerd; origin content is then
   * reached only with `?ns=<origin host>`).
   */
  dockerMirrorNames: 'library' | 'all'
  /** Who may pull foreign content: anyone, or callers holding a valid origin token for a named account. */
  foreignPull: 'anyone' | 'authenticated'
  /** Cap on the bytes of cached blobs and manifests on disk (fills in flight may exceed it until they finish). */
  maxBytes: number
  /** A tag is revalidated with its upstream at most once per this many milliseconds. */
  tagTtlMs: number
  /** Requests in flight to each upstream. */
  upstreamConcurrency: number
  /** Upstream response-header timeout, and the longest pause allowed between body chunks. */
  upstreamTimeoutMs: number
  /** Retries of an upstream request that failed before its body (connection errors, 5xx), and resumes of a fill. */
  upstreamRetries: number
  /** How often the origin's JWKS is fetched again. */
  jwksRefreshMs: number
  /** Least time between two JWKS fetches caused by tokens with an unknown key id. */
  jwksCooldownMs: number
  /** Manifests kept in memory, in bytes. */
  manifestMemoryBytes: number
  fsync: boolean
  /** Bytes per second the background scrub re-hashes cached files at most; 0: no scrub. */
  scrubBytesPerSecond: number
  /** A cached file is re-hashed by the scrub at most this often, in milliseconds. */
  scrubIntervalMs: number
  /** A whole read of an entry checks its digest as it streams, holding back the last byte until it matches. */
  verifyReads: boolean
  /** When set, GET /metrics needs `Authorization: Bearer <token>`. */
  metricsToken?: string
  /** The control plane this node joins as a site (heartbeats, usage metrics, blob grants); none: a plain cache. */
  controlPlane?: ControlPlaneConfig
}

/** How this node joins its control plane, and what it says about itself (docs/network-protocol.md). */
export interface ControlPlaneConfig {
  /** The control plane's base URL; its API is under `<url>/api/v0`. */
  url: URL
  /** `wharf_join_<id>_<secret>`: needed for the first start, while `<dataDir>/site.json` holds no identity. */
  joinToken?: string
  site: SiteFields
  /** How often usage counters are closed into a batch; undefined: what the control plane says (metricsIntervalMs). */
  metricsFlushMs?: number
}

/** The site fields sent when joining (the public URL and the byte cap are added from the rest of the config). */
export interface SiteFields {
  name?: string
  region?: string
  latitude?: number
  longitude?: number
  /** CIDRs of the clients this site serves. */
  networks: string[]
  /** The parent site's name (this node's upstream cache). */
  parent?: string
}

/** A site name, as the control plane requires it. */
export const SITE_NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/

const NS_RE = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$/

/**
 * Reads the cache node's configuration from environment variables (see README's table). Pure: no file is read
 * here. Throws a ConfigError naming every bad value.
 */
export function loadConfig(env: Env): Readonly<CacheConfig> {
  const p = new ConfigProblems(env)
  const listen = p.listen('CACHE_LISTEN', '127.0.0.1:5001')
  const dataDir = resolve(p.string('CACHE_DATA_DIR', './data/cache'))
  const tls = p.tls('CACHE')
  const publicUrl = p.publicUrl('CACHE_PUBLIC_URL', listen, tls !== undefined)
  if (p.raw('CACHE_ORIGIN_URL') === undefined) {
    p.add(
      'CACHE_ORIGIN_URL is required: the Wharf origin whose tokens this cache accepts (e.g. https://registry.example.com)',
    )
  }
  const originUrl = p.rootUrl('CACHE_ORIGIN_URL', 'http://127.0.0.1:5000')
  const upstreamUrl = p.rootUrl('CACHE_UPSTREAM_URL', originUrl.href)
  const upstream: UpstreamConfig = { key: 'wharf', url: upstreamUrl, kind: 'wharf' }
  const rules = parseRules(p, p.raw('CACHE_UPSTREAMS') ?? '')

  const dockerMirror = p.raw('CACHE_DOCKER_MIRROR')
  if (dockerMirror !== undefined && !rules.some((r) => r.match === 'ns' && r.ns === dockerMirror)) {
    p.add(
      `CACHE_DOCKER_MIRROR="${dockerMirror}" must name an ns entry of CACHE_UPSTREAMS (e.g. CACHE_UPSTREAMS=docker.io=https://registry-1.docker.io and CACHE_DOCKER_MIRROR=docker.io)`,
    )
  }
  const maxBytes = p.bytes('CACHE_MAX_BYTES', '10GiB')
  if (parseBytes(p.raw('CACHE_MAX_BYTES') ?? '1') === 0) p.add('CACHE_MAX_BYTES must be more than 0')
  const jwksRefreshMs = p.duration('CACHE_JWKS_REFRESH', '5m')
  if (jwksRefreshMs < 1000) p.add('CACHE_JWKS_REFRESH must be at least 1s')

  const config: CacheConfig = {
    listen,
    dataDir,
    publicUrl: publicUrl.url,
    publicUrlDerived: publicUrl.derived,
    tls,
    logLevel: p.oneOf('CACHE_LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
    http: p.httpLimits('CACHE'),
    originUrl,
    upstream,
    rules,
    dockerMirror,
    dockerMirrorNames: p.oneOf('CACHE_DOCKER_MIRROR_NAMES', ['library', 'all'], 'library'),
    foreignPull: p.oneOf('CACHE_FOREIGN_PULL', ['anyone', 'authenticated'], 'anyone'),
    maxBytes,
    tagTtlMs: p.duration('CACHE_TAG_TTL', '1m'),
    upstreamConcurrency: int(p, 'CACHE_UPSTREAM_CONCURRENCY', 16, 1, 1024),
    upstreamTimeoutMs: p.duration('CACHE_UPSTREAM_TIMEOUT', '60s'),
    upstreamRetries: int(p, 'CACHE_UPSTREAM_RETRIES', 2, 0, 10),
    jwksRefreshMs,
    jwksCooldownMs: p.duration('CACHE_JWKS_COOLDOWN', '10s'),
    manifestMemoryBytes: p.bytes('CACHE_MANIFEST_MEMORY', '64MiB'),
    fsync: p.bool('CACHE_FSYNC', true),
    scrubBytesPerSecond: p.bytes('CACHE_SCRUB_BYTES_PER_SECOND', '16MiB'),
    scrubIntervalMs: p.duration('CACHE_SCRUB_INTERVAL', '7d'),
    verifyReads: p.bool('CACHE_VERIFY_READS', true),
    metricsToken: p.raw('CACHE_METRICS_TOKEN'),
    controlPlane: parseControlPlane(p),
  }
  if (config.upstreamTimeoutMs < 1000) p.add('CACHE_UPSTREAM_TIMEOUT must be at least 1s')
  if (config.scrubIntervalMs < 60_000) p.add('CACHE_SCRUB_INTERVAL must be at least 1m')
  p.throwIfAny('cache-node')
  return Object.freeze(config)
}

/** CACHE_CONTROL_PLANE_URL and the CACHE_SITE_* fields; the site fields are checked only with a control plane. */
function parseControlPlane(p: ConfigProblems): ControlPlaneConfig | undefined {
  const siteVars = [
    'CACHE_JOIN_TOKEN',
    'CACHE_SITE_NAME',
    'CACHE_SITE_REGION',
    'CACHE_SITE_LATITUDE',
    'CACHE_SITE_LONGITUDE',
    'CACHE_SITE_NETWORKS',
    'CACHE_SITE_PARENT',
    'CACHE_METRICS_FLUSH',
  ]
  if (p.raw('CACHE_CONTROL_PLANE_URL') === undefined) {
    const stray = siteVars.filter((v) => p.raw(v) !== undefined)
    if (stray.length > 0)
      p.add(
        `${stray.join(', ')} only take effect with CACHE_CONTROL_PLANE_URL (the control plane this cache joins as a site)`,
      )
    return undefined
  }
  const url = p.url('CACHE_CONTROL_PLANE_URL')
  if (url && (url.search || url.hash || url.username || url.password))
    p.add(
      `CACHE_CONTROL_PLANE_URL="${url.href}" must be an http(s) URL with no query or credentials (e.g. https://wharf-cp.example.com)`,
    )
  const joinToken = p.raw('CACHE_JOIN_TOKEN')
  if (joinToken !== undefined && !/^wharf_join_[A-Za-z0-9_-]+$/.test(joinToken))
    p.add(
      'CACHE_JOIN_TOKEN is not a join token (wharf_join_<id>_<secret>, as `POST /api/v0/join-tokens` or `wharf join-token create` prints it)',
    )
  const name = p.raw('CACHE_SITE_NAME')
  if (name !== undefined && !SITE_NAME_RE.test(name))
    p.add(
      `CACHE_SITE_NAME="${name}" must be 1 to 63 lowercase letters, digits and dashes, starting with a letter or digit`,
    )
  const parent = p.raw('CACHE_SITE_PARENT')
  if (parent !== undefined && !SITE_NAME_RE.test(parent))
    p.add(`CACHE_SITE_PARENT="${parent}" must be a site name (lowercase letters, digits and dashes)`)
  if (parent !== undefined && parent === name) p.add('CACHE_SITE_PARENT cannot name the site itself')
  const latitude = coordinate(p, 'CACHE_SITE_LATITUDE', 90)
  const longitude = coordinate(p, 'CACHE_SITE_LONGITUDE', 180)
  if ((p.raw('CACHE_SITE_LATITUDE') === undefined) !== (p.raw('CACHE_SITE_LONGITUDE') === undefined))
    p.add('CACHE_SITE_LATITUDE and CACHE_SITE_LONGITUDE go together: set both (decimal degrees) or neither')
  const networks: string[] = []
  for (const cidr of (p.raw('CACHE_SITE_NETWORKS') ?? '').split(/[\s,]+/).filter(Boolean)) {
    if (isCidr(cidr)) networks.push(cidr)
    else p.add(`CACHE_SITE_NETWORKS entry "${cidr}" is not a CIDR (e.g. 10.20.0.0/16 or 2001:db8::/32)`)
  }
  let metricsFlushMs: number | undefined
  if (p.raw('CACHE_METRICS_FLUSH') !== undefined) {
    metricsFlushMs = p.duration('CACHE_METRICS_FLUSH', '1m')
    if (metricsFlushMs < 100) p.add('CACHE_METRICS_FLUSH must be at least 100ms')
  }
  return {
    url: url ?? new URL('http://127.0.0.1'),
    joinToken,
    site: { name, region: p.raw('CACHE_SITE_REGION'), latitude, longitude, networks, parent },
    metricsFlushMs,
  }
}

function coordinate(p: ConfigProblems, name: string, limit: number): number | undefined {
  const v = p.raw(name)
  if (v === undefined) return undefined
  const n = Number(v)
  if (!/^[+-]?\d+(\.\d+)?$/.test(v) || n < -limit || n > limit) {
    p.add(`${name}="${v}" must be decimal degrees from -${limit} to ${limit}`)
    return undefined
  }
  return n
}

/** An IPv4 CIDR in dotted-quad form, or an IPv6 CIDR. */
export function isCidr(v: string): boolean {
  try {
    return v.includes(':') ? ipaddr.IPv6.isValidCIDR(v) : ipaddr.IPv4.isValidCIDRFourPartDecimal(v)
  } catch {
    return false
  }
}

/**
 * CACHE_UPSTREAMS: entries separated by commas or whitespace.
 *   `<registry>=<url>`  requests carrying `?ns=<registry>` (containerd's hosts.toml mirrors) go to <url>
 *   `<prefix>/=<url>`   repositories named `<prefix>/<rest>` go to <url> as `<rest>` (podman mirror locations,
 *                       or plain `docker pull cache/<prefix>/...`)
 * Entries naming the same URL share one upstream (one connection pool, one namespace in the index).
 */
function parseRules(p: ConfigProblems, value: string): UpstreamRule[] {
  const rules: UpstreamRule[] = []
  const byOrigin = new Map<string, UpstreamConfig>()
  for (const entry of value.split(/[\s,]+/).filter(Boolean)) {
    const eq = entry.indexOf('=')
    const match = eq > 0 ? entry.slice(0, eq).toLowerCase() : ''
    const raw = eq > 0 ? entry.slice(eq + 1) : ''
    const url = parseRootUrl(raw)
    if (!match || !url) {
      p.add(
        `CACHE_UPSTREAMS entry "${entry}" is not <registry>=<url> or <prefix>/=<url> with an http(s) URL and no path (e.g. docker.io=https://registry-1.docker.io)`,
      )
      continue
    }
    let upstream = byOrigin.get(url.origin)
    if (!upstream) {
      upstream = { key: url.origin, url, kind: 'foreign' }
      byOrigin.set(url.origin, upstream)
    }
    if (match.endsWith('/')) {
      const prefix = match.slice(0, -1)
      if (!NAME_RE.test(prefix)) p.add(`CACHE_UPSTREAMS prefix "${match}" is not a repository-name prefix (e.g. hub/)`)
      else if (rules.some((r) => r.match === 'prefix' && r.prefix === prefix))
        p.add(`CACHE_UPSTREAMS names the prefix "${match}" twice`)
      else rules.push({ match: 'prefix', prefix, upstream })
    } else if (!NS_RE.test(match)) {
      p.add(`CACHE_UPSTREAMS key "${match}" is neither a registry host (docker.io) nor a prefix ending in / (hub/)`)
    } else if (rules.some((r) => r.match === 'ns' && r.ns === match)) {
      p.add(`CACHE_UPSTREAMS names the registry "${match}" twice`)
    } else {
      rules.push({ match: 'ns', ns: match, upstream })
    }
  }
  return rules
}

function parseRootUrl(v: string): URL | undefined {
  try {
    const u = new URL(v)
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined
    if (u.pathname !== '/' || u.search || u.hash || u.username || u.password) return undefined
    return u
  } catch {
    return undefined
  }
}

/** An http(s) URL at a host's root (registries live at /v2/ of their host). */
function int(p: ConfigProblems, name: string, fallback: number, min: number, max: number): number {
  const v = p.raw(name)
  if (v === undefined) return fallback
  const n = Number(v)
  if (!/^\d+$/.test(v) || n < min || n > max) {
    p.add(`${name}="${v}" must be a whole number from ${min} to ${max}`)
    return fallback
  }
  return n
}
