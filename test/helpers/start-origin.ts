import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnProgram, type SpawnedProgram } from './spawn-program.ts'
import { buildApp } from '../../origin/app.ts'
import { loadConfig, withBoundPort } from '../../origin/config.ts'
import { createDeps, type OriginDeps } from '../../origin/deps.ts'
import type { FetchHandler } from '../../lib/server.ts'
import { serveInProcess, testLogger } from './in-process.ts'

export interface RunningOrigin {
  /** http://127.0.0.1:PORT */
  url: string
  /** 127.0.0.1:PORT, as image references name it */
  host: string
  dataDir: string
  close(): Promise<void>
}

export interface StartOptions {
  env?: Record<string, string>
  /** Reuse a data folder (a restart); a fresh temporary one otherwise, removed on close. */
  dataDir?: string
  /** Collects log lines as objects, for tests that assert on logs. */
  logLines?: Record<string, unknown>[]
  /** The origin's clock (tokens, grants, caches of control plane answers); Date.now by default. */
  now?: () => number
  /** Run the origin's timers (upload purge, scheduled LDAP sync), as origin/main.ts does (default true). */
  timers?: boolean
}

/** The first admin's password in every test origin. */
export const TEST_ADMIN = { username: 'admin', password: 'test-admin-password' }

const TEST_ENV = {
  ORIGIN_LISTEN: '127.0.0.1:0',
  ORIGIN_LOG_LEVEL: 'silent',
  ORIGIN_FSYNC: 'false',
  ORIGIN_ADMIN_PASSWORD: TEST_ADMIN.password,
}

/** Starts an origin in this process on an ephemeral loopback port. */
export async function startOrigin(opts: StartOptions = {}): Promise<RunningOrigin & { deps: OriginDeps }> {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'wharf-origin-')))
  const config = loadConfig({
    ...TEST_ENV,
    ...(opts.logLines ? { ORIGIN_LOG_LEVEL: 'info' } : {}),
    ...opts.env,
    ORIGIN_DATA_DIR: dataDir,
  })
  return serveInProcess({
    async start(port) {
      const deps = await createDeps(withBoundPort(config, port), testLogger(opts.logLines), {
        now: opts.now,
        timers: opts.timers,
      })
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

/** Starts `origin/main.ts` as a child process (for tests that kill it), on an ephemeral loopback port. */
export async function spawnOrigin(opts: StartOptions = {}): Promise<RunningOrigin & SpawnedProgram> {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'wharf-origin-')))
  return spawnProgram({
    entry: 'origin/main.ts',
    readyTag: 'WHARF_ORIGIN_READY',
    env: { ...TEST_ENV, ORIGIN_FSYNC: 'true', ...opts.env, ORIGIN_DATA_DIR: dataDir },
    dataDir,
    ownsDataDir: !opts.dataDir,
  })
}
