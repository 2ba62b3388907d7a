import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Hono } from 'hono'
import type { Logger } from 'pino'
import type { OriginConfig } from './config.ts'
import type { AccessController } from './http/access.ts'
import { clientAddressMiddleware } from './http/client-address.ts'
import { createIdentity, type Identity } from './identity.ts'
import { apiRoutes } from './routes/api/index.ts'
import { tokenRoutes } from './routes/token.ts'
import type { AppEnv } from './http/env.ts'
import { requestLog } from './http/request-log.ts'
import { createNetwork, type Network } from './network.ts'
import { v2Routes } from './routes/v2.ts'
import { RegistryService } from './services/registry.ts'
import { UploadService } from './services/uploads.ts'
import { FsBlobStore } from './storage/blob-store.ts'
import { openDb, type Db } from './storage/db.ts'
import { Metadata } from './storage/metadata.ts'

export interface OriginDeps {
  config: Readonly<OriginConfig>
  log: Logger
  db: Db
  meta: Metadata
  registry: RegistryService
  uploads: UploadService
  identity: Identity
  /** What /v2/ routes ask before acting. */
  access: AccessController
  /** Blob grants, the control plane and cache redirects, trusted proxies. */
  network: Network
  now: () => number
}

/** Opens the origin's storage under the data folder and builds its services (the I/O half of start-up). */
export async function createDeps(config: Readonly<OriginConfig>, log: Logger, now: () => number = Date.now): Promise<OriginDeps> {
  await mkdir(config.dataDir, { recursive: true })
  const db = openDb(join(config.dataDir, 'origin.db'))
  const meta = new Metadata(db)
  const uploadsDir = join(config.dataDir, 'uploads')
  const blobs = new FsBlobStore(join(config.dataDir, 'blobs'), { fsync: config.fsync, tmpDir: uploadsDir })
  const uploads = new UploadService({
    meta,
    blobs,
    dir: uploadsDir,
    fsync: config.fsync,
    now,
    log: log.child({ component: 'uploads' }),
  })
  await uploads.init()
  const registry = new RegistryService({ meta, blobs, now, log: log.child({ component: 'registry' }) })
  const identity = await createIdentity(config, db, meta, log, now)
  const network = createNetwork(config, identity, log, now)
  return { config, log, db, meta, registry, uploads, identity, access: identity.access, network, now }
}

/** The origin's HTTP application; no I/O happens here. */
export function buildApp(deps: OriginDeps) {
  const app = new Hono<AppEnv>()
  app.use(clientAddressMiddleware(deps.network.proxies))
  app.use(requestLog(deps.log))
  app.route(
    '/v2/',
    v2Routes({ ...deps, events: deps.identity.events, grants: deps.network.grants, redirects: deps.network.redirects }),
  )
  app.route('/auth', tokenRoutes(deps.identity))
  app.route('/api/v0', apiRoutes(deps))
  app.get('/health', (c) => c.json({ status: 'ok' }))
  app.notFound((c) => c.json({ error: { code: 'NOT_FOUND', message: `no route for ${c.req.method} ${c.req.path}` } }, 404))
  return app
}
