import { randomBytes } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { databaseCheck, diskCheck, UpstreamProbe, type ReadinessCheck } from '../lib/health.ts'
import type { OriginConfig } from './config.ts'
import type { AccessController } from './http/access.ts'
import { TrustedProxies } from './http/client-address.ts'
import { TokenAccessController } from './http/token-access.ts'
import { AuthService } from './services/auth.ts'
import { BlobGrants } from './services/blob-grants.ts'
import { BlobRedirects } from './services/blob-redirects.ts'
import { OriginControlPlaneClient } from './services/control-plane-client.ts'
import { Events, systemActor } from './services/events.ts'
import { KeyRing } from './services/keys.ts'
import { LdapDirectory } from './services/ldap.ts'
import { LoginLimiter } from './services/login-limiter.ts'
import { hashPassword } from './services/passwords.ts'
import { Permissions } from './services/permissions.ts'
import { RegistryService } from './services/registry.ts'
import { TokenService } from './services/tokens.ts'
import { UploadService } from './services/uploads.ts'
import { AccessStore } from './storage/access-store.ts'
import { AccountsStore } from './storage/accounts-store.ts'
import { FsBlobStore, type BlobStore } from './storage/blob-store.ts'
import { S3BlobStore } from './storage/s3-blob-store.ts'
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3'
import { openDb, type Db } from './storage/db.ts'
import { EventsStore } from './storage/events-store.ts'
import { Metadata } from './storage/metadata.ts'
import { OriginMetrics } from './prometheus.ts'
import { SettingsStore } from './storage/settings-store.ts'

/** How often upload sessions left untouched longer than ORIGIN_UPLOAD_TTL are looked for. */
const UPLOAD_PURGE_INTERVAL_MS = 60 * 60_000 // 1 h

/** What the origin's routes use; built by createDeps, released by close(). */
export interface OriginDeps {
  config: Readonly<OriginConfig>
  log: Logger
  db: Db
  meta: Metadata
  /** Blob files (content-addressed). */
  blobs: BlobStore
  registry: RegistryService
  uploads: UploadService
  identity: Identity
  /** What /v2/ routes ask before acting. */
  access: AccessController
  /** Blob grants, the control plane and cache redirects, trusted proxies. */
  network: Network
  /** The Prometheus series at /metrics. */
  metrics: OriginMetrics
  /** What /readyz and /_ping ask: the database, the data disk and, when configured, the control plane. */
  readiness: ReadinessCheck[]
  now: () => number
  /** Stops the timers (upload purge, LDAP sync schedule), waits for what they run, closes the control plane client and the database. */
  close(): Promise<void>
}

export interface CreateDepsOptions {
  /** The clock (tokens, grants, sessions, upload ages, caches of control plane answers). Default Date.now. */
  now?: () => number
  /**
   * Run the origin's own timers: the hourly purge of stale upload sessions and the scheduled LDAP sync (default
   * true). Tests of the schedule itself turn them off and start the LDAP schedule by hand.
   */
  timers?: boolean
}

/** Opens the origin's storage under the data folder, builds its services and starts its timers (the I/O half of start-up). */
export async function createDeps(
  config: Readonly<OriginConfig>,
  log: Logger,
  opts: CreateDepsOptions | (() => number) = {},
): Promise<OriginDeps> {
  const o: CreateDepsOptions = typeof opts === 'function' ? { now: opts } : opts
  const now = o.now ?? Date.now
  await mkdir(config.dataDir, { recursive: true })
  const db = openDb(join(config.dataDir, 'origin.db'))
  const metrics = new OriginMetrics()
  metrics.timeStatements(db)
  const meta = new Metadata(db)
  const identity = await createIdentity(config, db, meta, log, now)
  const uploadsDir = join(config.dataDir, 'uploads')
  const s3 = config.s3 ? s3Blobs(config.s3) : undefined
  const blobs: BlobStore =
    s3?.store ?? new FsBlobStore(join(config.dataDir, 'blobs'), { fsync: config.fsync, tmpDir: uploadsDir })
  const { events, permissions } = identity
  const registry = new RegistryService({
    meta,
    blobs,
    events,
    permissions,
    now,
    log: log.child({ component: 'registry' }),
  })
  const uploads = new UploadService({
    meta,
    blobs,
    repositories: registry,
    dir: uploadsDir,
    fsync: config.fsync,
    now,
    log: log.child({ component: 'uploads' }),
  })
  await uploads.init()
  const network = createNetwork(config, identity, log, now)
  identity.events.observers.push((e) => metrics.event(e))
  const ping = db.prepare('SELECT 1')
  const readiness: ReadinessCheck[] = [databaseCheck(() => ping.get()), diskCheck(config.dataDir)]
  if (s3) readiness.push(s3.readiness)
  if (config.controlPlaneUrl)
    readiness.push(new UpstreamProbe({ name: 'control-plane', url: new URL('/healthz', config.controlPlaneUrl), now }))

  let purge: NodeJS.Timeout | undefined
  let purging: Promise<unknown> | undefined
  if (o.timers !== false) {
    purge = setInterval(() => {
      purging ??= uploads
        .purgeStale(config.uploadTtlMs)
        .then(
          (n) => n > 0 && log.info({ removed: n }, 'removed stale upload sessions'),
          (err: unknown) => log.error({ err }, 'upload purge failed'),
        )
        .finally(() => (purging = undefined))
    }, UPLOAD_PURGE_INTERVAL_MS)
    purge.unref()
    // the scheduled LDAP sync (settings' syncSchedule); rescheduled when the settings change
    identity.ldap.start()
  }

  return {
    config,
    log,
    db,
    meta,
    blobs,
    registry,
    uploads,
    identity,
    access: identity.access,
    network,
    metrics,
    readiness,
    now,
    async close() {
      clearInterval(purge)
      await purging
      await identity.ldap.stop()
      await network.controlPlane?.close()
      s3?.client.destroy()
      db.close()
    },
  }
}

export interface Identity {
  accounts: AccountsStore
  accessStore: AccessStore
  settings: SettingsStore
  events: Events
  permissions: Permissions
  keys: KeyRing
  tokens: TokenService
  auth: AuthService
  access: TokenAccessController
  /** LDAP / Active Directory logins and sync; createDeps starts its schedule. */
  ldap: LdapDirectory
  /** Set on the very first start when the admin password was generated: print it once. */
  bootstrap?: { username: string; password: string }
}

/** Builds accounts, permissions, tokens and the /v2 access controller; creates the first admin on a fresh database. */
export async function createIdentity(
  config: Readonly<OriginConfig>,
  db: Db,
  meta: Metadata,
  log: Logger,
  now: () => number,
): Promise<Identity> {
  const accounts = new AccountsStore(db)
  const accessStore = new AccessStore(db)
  const settings = new SettingsStore(db)
  const events = new Events(new EventsStore(db), now, log.child({ component: 'events' }))
  const permissions = new Permissions({ accounts, access: accessStore, meta, settings })
  const keys = new KeyRing(join(config.dataDir, 'keys'), { keepRetiredMs: config.tokenTtlMs + 60 * 60_000, now })
  await keys.init()
  const tokens = new TokenService({
    keys,
    permissions,
    events,
    issuer: config.publicUrl.origin,
    service: config.tokenService ?? config.publicUrl.host,
    ttlSeconds: Math.round(config.tokenTtlMs / 1000),
    now,
  })
  const auth = new AuthService({
    accounts,
    access: accessStore,
    events,
    limiter: new LoginLimiter(db, { now }),
    now,
    log: log.child({ component: 'auth' }),
    refreshTtlMs: config.refreshTokenTtlMs,
    sessionTtlMs: config.sessionTtlMs,
  })
  const ldap = new LdapDirectory({
    settings,
    accounts,
    access: accessStore,
    events,
    auth,
    log: log.child({ component: 'ldap' }),
    now,
  })
  auth.directory = ldap
  const access = new TokenAccessController({ tokens, realm: new URL('/auth/token', config.publicUrl).href })
  let bootstrap: Identity['bootstrap']
  if (accounts.activeAdminCount() === 0 && !accounts.byName(config.adminUser)) {
    const password = config.adminPassword ?? randomBytes(18).toString('base64url')
    accounts.insert({
      name: config.adminUser,
      kind: 'user',
      passwordHash: await hashPassword(password),
      isAdmin: true,
      now: now(),
    })
    events.record({
      actor: systemActor('system'),
      action: 'account.create',
      targetType: 'account',
      target: config.adminUser,
      detail: { admin: true },
    })
    if (!config.adminPassword) bootstrap = { username: config.adminUser, password }
  }
  return { accounts, accessStore, settings, events, permissions, keys, tokens, auth, access, ldap, bootstrap }
}

/** The origin's part in the cache network (docs/network-protocol.md). */
export interface Network {
  /** Makes and checks the grants of redirected blob pulls; always present (grants are accepted without a control plane). */
  grants: BlobGrants
  /** Absent without ORIGIN_CONTROL_PLANE_URL: then nothing is ever redirected. */
  controlPlane?: OriginControlPlaneClient
  redirects?: BlobRedirects
  /** Which peers' X-Forwarded-For is believed. */
  proxies: TrustedProxies
}

/** Builds the network services; no I/O happens until a request needs the control plane. */
export function createNetwork(
  config: Readonly<OriginConfig>,
  identity: Identity,
  log: Logger,
  now: () => number,
): Network {
  const { keys, tokens, accounts } = identity
  const grants = new BlobGrants({ keys, issuer: tokens.issuer, ttlSeconds: Math.round(config.grantTtlMs / 1000), now })
  const proxies = new TrustedProxies(config.trustedProxies)
  if (!config.controlPlaneUrl) return { grants, proxies }
  const controlPlane = new OriginControlPlaneClient({
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

/** The S3 blob store of ORIGIN_S3_* (credentials from the AWS SDK's own chain), and its readiness: the bucket answers. */
function s3Blobs(s3: NonNullable<OriginConfig['s3']>): {
  store: BlobStore
  client: S3Client
  readiness: ReadinessCheck
} {
  const client = new S3Client({
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    ...(s3.endpoint ? { endpoint: s3.endpoint.href.replace(/\/$/, '') } : {}),
    ...(s3.credentials ? { credentials: s3.credentials } : {}),
  })
  const readiness: ReadinessCheck = {
    name: 's3',
    async check() {
      try {
        await client.send(new HeadBucketCommand({ Bucket: s3.bucket }))
        return { ok: true, detail: `bucket ${s3.bucket} answers` }
      } catch (err) {
        return { ok: false, detail: `bucket ${s3.bucket}: ${(err as Error).name} ${(err as Error).message}`.trim() }
      }
    },
  }
  return {
    store: new S3BlobStore({
      client,
      bucket: s3.bucket,
      prefix: s3.prefix,
      partSize: s3.partSize,
      redirectTtlS: Math.floor(s3.redirectTtlMs / 1000),
    }),
    client,
    readiness,
  }
}
