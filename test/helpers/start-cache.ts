import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnProgram, type SpawnedProgram } from './spawn-program.ts'
import { buildApp, createDeps, type CacheDeps } from '../../cache-node/app.ts'
import { loadConfig, withBoundPort } from '../../cache-node/config.ts'
import type { FetchHandler } from '../../lib/server.ts'
import { serveInProcess, testLogger } from './in-process.ts'

export interface RunningCache {
  /** http://127.0.0.1:PORT */
  url: string
  /** 127.0.0.1:PORT, as image references name it */
  host: string
  dataDir: string
  close(): Promise<void>
}

export interface StartCacheOptions {
  /** CACHE_UPSTREAM_URL: the origin (default: originUrl), a parent cache, or a test registry. */
  upstreamUrl?: string
  /** CACHE_ORIGIN_URL: whose token service and JWKS the cache trusts. */
  originUrl: string
  env?: Record<string, string>
  /** Reuse a data folder (a restart); a fresh temporary one otherwise, removed on close. */
  dataDir?: string
  /** The cache's clock (TTL, LRU order, token lifetimes). */
  now?: () => number
  /** Collects log lines as objects, for tests that assert on logs. */
  logLines?: Record<string, unknown>[]
}

const TEST_ENV = {
  CACHE_LISTEN: '127.0.0.1:0',
  CACHE_LOG_LEVEL: 'silent',
  CACHE_FSYNC: 'false',
  // failures in tests should show at once, not after a minute
  CACHE_UPSTREAM_TIMEOUT: '20s',
}

/** Starts a cache node in this process on an ephemeral loopback port. */
export async function startCache(opts: StartCacheOptions): Promise<RunningCache & { deps: CacheDeps }> {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'wharf-cache-')))
  const config = loadConfig({
    ...TEST_ENV,
    ...(opts.logLines ? { CACHE_LOG_LEVEL: 'info' } : {}),
    CACHE_ORIGIN_URL: opts.originUrl,
    CACHE_UPSTREAM_URL: opts.upstreamUrl ?? opts.originUrl,
    ...opts.env,
    CACHE_DATA_DIR: dataDir,
  })
  return serveInProcess({
    async start(port) {
      const deps = await createDeps(withBoundPort(config, port), testLogger(opts.logLines), opts.now)
      return { deps, fetch: buildApp(deps).fetch as FetchHandler }
    },
    async stop(deps) {
      await deps.close()
    },
    dataDir,
    ownsDataDir: !opts.dataDir,
    limits: config.http,
  })
}

/** Starts `cache-node/main.ts` as a child process (for tests that kill it), on an ephemeral loopback port. */
export async function spawnCache(
  opts: Omit<StartCacheOptions, 'now' | 'logLines'>,
): Promise<RunningCache & SpawnedProgram> {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'wharf-cache-')))
  return spawnProgram({
    entry: 'cache-node/main.ts',
    readyTag: 'WHARF_CACHE_READY',
    env: {
      ...TEST_ENV,
      CACHE_FSYNC: 'true',
      CACHE_ORIGIN_URL: opts.originUrl,
      CACHE_UPSTREAM_URL: opts.upstreamUrl ?? opts.originUrl,
      ...opts.env,
      CACHE_DATA_DIR: dataDir,
    },
    dataDir,
    ownsDataDir: !opts.dataDir,
  })
}
