import { resolve } from 'node:path'
import ipaddr from 'ipaddr.js'
import { ConfigProblems, type Env, type ProgramConfig } from '../lib/config.ts'
import { GRANT_AUDIENCE } from './services/blob-grants.ts'
import { isReservedName } from './services/reserved-names.ts'

export { withBoundPort } from '../lib/config.ts'

export interface OriginConfig extends ProgramConfig {
  /** Everything the origin keeps: database, blobs, upload sessions. */
  dataDir: string
  /** The URL clients use to reach the origin (token realm and absolute links are built from it). */
  publicUrl: URL
  /** fsync blobs and upload chunks before acknowledging them (survives power loss, not just a killed process). */
  fsync: boolean
  /** Upload sessions untouched for this long are removed. */
  uploadTtlMs: number
  /** The first admin's name, created on a fresh database. */
  adminUser: string
  /** The first admin's password; generated and printed once when unset. Never logged. */
  adminPassword?: string
  /** Lifetime of registry bearer tokens. */
  tokenTtlMs: number
  /** The `service` tokens are issued for (their audience); the public URL's host:port when unset. */
  tokenService?: string
  refreshTokenTtlMs: number
  sessionTtlMs: number
  /** The cache network's control plane; without it the origin serves every blob itself and never redirects. */
  controlPlaneUrl?: URL
  /** How long a control plane's answer to "which site serves this caller" is reused. */
  assignmentTtlMs: number
  /** Lifetime of the blob grants put in redirects to a cache. */
  grantTtlMs: number
  /** CIDRs of reverse proxies whose X-Forwarded-For is believed (normalized, e.g. `10.0.0.0/8`). */
  trustedProxies: string[]
  /** When set, /metrics needs `Authorization: Bearer <token>`; unset, it answers loopback clients only. */
  metricsToken?: string
  /**
   * Blobs in S3-compatible object storage instead of files under dataDir/blobs (ORIGIN_S3_BUCKET). Credentials come
   * from the AWS SDK's own chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, profiles, instance roles).
   */
  s3?: S3Config
}

export interface S3Config {
  bucket: string
  /** A non-AWS endpoint (MinIO, Ceph, s3rver …); the SDK's AWS endpoint for the region when unset. */
  endpoint?: URL
  region: string
  /** `http://endpoint/bucket/key` rather than `http://bucket.endpoint/key` (most non-AWS servers want this). */
  forcePathStyle: boolean
  /** Prepended to every key: several registries can share a bucket. */
  prefix: string
  /** Part size of multipart uploads (and the memory one blob write holds). */
  partSize: number
  /** Blob GETs are answered with a 307 to a presigned URL valid this long (ORIGIN_S3_REDIRECT); 0 serves them here. */
  redirectTtlMs: number
  /**
   * AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) of the program's environment, when set;
   * otherwise the SDK's own chain finds credentials (profiles, instance roles). Never logged.
   */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }
}

/**
 * Reads the origin's configuration from environment variables (see README's table). Pure: no file is read here.
 * Throws a ConfigError naming every bad value.
 */
export function loadConfig(env: Env): Readonly<OriginConfig> {
  const p = new ConfigProblems(env)
  const listen = p.listen('ORIGIN_LISTEN', '127.0.0.1:5000')
  const dataDir = resolve(p.string('ORIGIN_DATA_DIR', './data/origin'))
  const tls = p.tls('ORIGIN')
  const { url: publicUrl, derived: publicUrlDerived } = p.publicUrl('ORIGIN_PUBLIC_URL', listen, tls !== undefined)
  const adminPassword = p.raw('ORIGIN_ADMIN_PASSWORD')
  if (adminPassword !== undefined && adminPassword.length < 8)
    p.add('ORIGIN_ADMIN_PASSWORD must have at least 8 characters')
  const adminUser = p.string('ORIGIN_ADMIN_USER', 'admin')
  if (isReservedName(adminUser)) p.add(`ORIGIN_ADMIN_USER must not be ${adminUser}: Wharf keeps that name for itself`)
  const tokenTtlMs = p.duration('ORIGIN_TOKEN_TTL', '5m')
  if (tokenTtlMs < 60_000 || tokenTtlMs > 3_600_000)
    p.add('ORIGIN_TOKEN_TTL must be between 1m and 1h (tokens are short-lived)')
  const tokenService = p.raw('ORIGIN_TOKEN_SERVICE')
  if (tokenService === GRANT_AUDIENCE)
    p.add(`ORIGIN_TOKEN_SERVICE must not be ${GRANT_AUDIENCE}: that audience is reserved for blob grants`)
  const grantTtlMs = p.duration('ORIGIN_GRANT_TTL', '2m')
  if (grantTtlMs < 10_000 || grantTtlMs > 15 * 60_000) p.add('ORIGIN_GRANT_TTL must be between 10s and 15m')
  const config: OriginConfig = {
    listen,
    dataDir,
    publicUrl,
    publicUrlDerived,
    tls,
    logLevel: p.oneOf('ORIGIN_LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
    http: p.httpLimits('ORIGIN'),
    fsync: p.bool('ORIGIN_FSYNC', true),
    uploadTtlMs: p.duration('ORIGIN_UPLOAD_TTL', '24h'),
    adminUser,
    adminPassword,
    tokenTtlMs,
    tokenService,
    refreshTokenTtlMs: p.duration('ORIGIN_REFRESH_TOKEN_TTL', '30d'),
    sessionTtlMs: p.duration('ORIGIN_SESSION_TTL', '12h'),
    controlPlaneUrl: p.url('ORIGIN_CONTROL_PLANE_URL'),
    assignmentTtlMs: p.duration('ORIGIN_ASSIGNMENT_TTL', '10s'),
    grantTtlMs,
    trustedProxies: cidrList(p, 'ORIGIN_TRUSTED_PROXIES'),
    metricsToken: p.raw('ORIGIN_METRICS_TOKEN'),
    s3: s3Config(p),
  }
  p.throwIfAny('origin')
  return Object.freeze(config)
}

/** ORIGIN_S3_*: undefined unless ORIGIN_S3_BUCKET is set; the others alone are a mistake worth naming. */
function s3Config(p: ConfigProblems): S3Config | undefined {
  const bucket = p.raw('ORIGIN_S3_BUCKET')
  const endpoint = p.url('ORIGIN_S3_ENDPOINT')
  const region = p.raw('ORIGIN_S3_REGION') ?? p.raw('AWS_REGION') ?? 'us-east-1'
  const forcePathStyle = p.bool('ORIGIN_S3_FORCE_PATH_STYLE', false)
  const prefix = p.raw('ORIGIN_S3_PREFIX') ?? ''
  const partSize = p.bytes('ORIGIN_S3_PART_SIZE', '16MiB')
  const redirect = p.bool('ORIGIN_S3_REDIRECT', false)
  const redirectTtlMs = p.duration('ORIGIN_S3_REDIRECT_TTL', '5m')
  if (redirectTtlMs < 10_000 || redirectTtlMs > 7 * 86_400_000)
    p.add('ORIGIN_S3_REDIRECT_TTL must be between 10s and 7d (the longest a presigned URL lives)')
  if (!bucket) {
    for (const name of [
      'ORIGIN_S3_ENDPOINT',
      'ORIGIN_S3_REGION',
      'ORIGIN_S3_FORCE_PATH_STYLE',
      'ORIGIN_S3_PREFIX',
      'ORIGIN_S3_REDIRECT',
    ])
      if (p.raw(name) !== undefined)
        p.add(`${name} is set but ORIGIN_S3_BUCKET is not: set the bucket to keep blobs in S3`)
    return undefined
  }
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) p.add(`ORIGIN_S3_BUCKET "${bucket}" is not an S3 bucket name`)
  if (endpoint && endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:')
    p.add('ORIGIN_S3_ENDPOINT must be an http(s) URL')
  if (prefix && !/^[A-Za-z0-9._/-]*\/$/.test(prefix))
    p.add('ORIGIN_S3_PREFIX must be a key prefix ending in "/" (registry/)')
  if (partSize < 5 * 1024 * 1024 || partSize > 5 * 1024 ** 3)
    p.add("ORIGIN_S3_PART_SIZE must be between 5MiB and 5GiB (S3's limits)")
  const accessKeyId = p.raw('AWS_ACCESS_KEY_ID')
  const secretAccessKey = p.raw('AWS_SECRET_ACCESS_KEY')
  const sessionToken = p.raw('AWS_SESSION_TOKEN')
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined))
    p.add(
      'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together: set both, or neither for the SDK to find credentials',
    )
  const credentials =
    accessKeyId && secretAccessKey
      ? { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) }
      : undefined
  return {
    bucket,
    ...(endpoint ? { endpoint } : {}),
    region,
    forcePathStyle,
    prefix,
    partSize,
    redirectTtlMs: redirect ? redirectTtlMs : 0,
    ...(credentials ? { credentials } : {}),
  }
}

/** A comma-separated list of CIDRs (a bare address counts as a /32 or /128), normalized. */
function cidrList(p: ConfigProblems, name: string): string[] {
  const out: string[] = []
  for (const item of (p.raw(name) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    try {
      const [addr, bits] = item.includes('/')
        ? ipaddr.parseCIDR(item)
        : ((a) => [a, a.kind() === 'ipv4' ? 32 : 128] as const)(ipaddr.parse(item))
      out.push(`${addr.toString()}/${bits}`)
    } catch {
      p.add(`${name}: "${item}" is not a CIDR (e.g. 10.0.0.0/8, 192.168.1.10/32 or fd00::/8)`)
    }
  }
  return out
}
