import { resolve } from 'node:path'
import { ConfigProblems, parseBytes, type Env } from '../lib/config.ts'
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

export interface CacheConfig {
  listen: { host: string; port: number }
  /** The index database, the blob files and fills in progress. */
  dataDir: string
  /** How clients reach this cache. */
  publicUrl: URL
  /** True when CACHE_PUBLIC_URL was not set: the URL follows the port actually bound (see withBoundPort). */
  publicUrlDerived: boolean
  tls?: { certFile: string; keyFile: string }
  logLevel: string
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
  /** When set, GET /metrics needs `Authorization: Bearer <token>`. */
  metricsToken?: string
}

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
    metricsToken: p.raw('CACHE_METRICS_TOKEN'),
  }
  if (config.upstreamTimeoutMs < 1000) p.add('CACHE_UPSTREAM_TIMEOUT must be at least 1s')
  p.throwIfAny('cache-node')
  return Object.freeze(config)
}

/** The configuration once the server is bound: a derived public URL gets the real port (listening on port 0). */
export function withBoundPort(config: Readonly<CacheConfig>, port: number): Readonly<CacheConfig> {
  if (!config.publicUrlDerived || config.listen.port === port) return config
  const publicUrl = new URL(config.publicUrl)
  publicUrl.port = String(port)
  return Object.freeze({ ...config, publicUrl, listen: { ...config.listen, port } })
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
