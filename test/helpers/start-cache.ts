import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { spawnProgram, type SpawnedProgram } from './spawn-program.ts'
import { buildApp, createDeps, type CacheDeps } from '../../cache-node/app.ts'
import { loadConfig, withBoundPort } from '../../cache-node/config.ts'
import { listen, type FetchHandler } from '../../lib/server.ts'

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
  const log = opts.logLines
    ? pino(
        { level: 'info' },
        { write: (line: string) => void opts.logLines!.push(JSON.parse(line) as Record<string, unknown>) },
      )
    : pino({ level: 'silent' })
  let handler: FetchHandler = () => new Response('starting', { status: 503 })
  const server = await listen({ fetch: (req, env) => handler(req, env), host: '127.0.0.1', port: 0 })
  const deps = await createDeps(withBoundPort(config, server.port), log, opts.now)
  handler = buildApp(deps).fetch as FetchHandler
  const host = `127.0.0.1:${server.port}`
  return {
    url: `http://${host}`,
    host,
    dataDir,
    deps,
    async close() {
      await server.close()
      await deps.close()
      if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true })
    },
  }
}

/** Starts `cache-node/main.ts` as a child process (for tests that kill it), on an ephemeral loopback port. */
export async function spawnCache(opts: Omit<StartCacheOptions, 'now' | 'logLines'>): Promise<RunningCache & SpawnedProgram> {
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
