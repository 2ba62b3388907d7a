import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnProgram, type SpawnedProgram } from './spawn-program.ts'
import { buildApp } from '../../control-plane/app.ts'
import { createDeps, type ControlPlaneDeps } from '../../control-plane/deps.ts'
import { loadConfig, withBoundPort } from '../../control-plane/config.ts'
import type { FetchHandler } from '../../lib/server.ts'
import { serveInProcess, testLogger } from './in-process.ts'

export interface RunningControlPlane {
  /** http://127.0.0.1:PORT */
  url: string
  /** 127.0.0.1:PORT */
  host: string
  dataDir: string
  close(): Promise<void>
}

export interface StartControlPlaneOptions {
  /** CONTROL_PLANE_ORIGIN_URL: whose tokens the control plane accepts. */
  originUrl: string
  env?: Record<string, string>
  /** Reuse a data folder (a restart); a fresh temporary one otherwise, removed on close. */
  dataDir?: string
  /** The control plane's clock (health, join-token expiry, token lifetimes). */
  now?: () => number
  /** Run the health sweep timer (default true). Tests that drive `now` by hand can turn it off: reads sweep too. */
  healthTimer?: boolean
  /** Collects log lines as objects, for tests that assert on logs. */
  logLines?: Record<string, unknown>[]
}

const TEST_ENV = {
  CONTROL_PLANE_LISTEN: '127.0.0.1:0',
  CONTROL_PLANE_LOG_LEVEL: 'silent',
}

/** Starts a control plane in this process on an ephemeral loopback port. */
export async function startControlPlane(
  opts: StartControlPlaneOptions,
): Promise<RunningControlPlane & { deps: ControlPlaneDeps }> {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'wharf-control-plane-')))
  const config = loadConfig({
    ...TEST_ENV,
    CONTROL_PLANE_ORIGIN_URL: opts.originUrl,
    ...opts.env,
    CONTROL_PLANE_DATA_DIR: dataDir,
  })
  return serveInProcess({
    async start(port) {
      const deps = await createDeps(withBoundPort(config, port), testLogger(opts.logLines), {
        now: opts.now,
        healthTimer: opts.healthTimer,
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

/** Starts `control-plane/main.ts` as a child process (for tests that kill or restart it), on an ephemeral port. */
export async function spawnControlPlane(
  opts: Omit<StartControlPlaneOptions, 'now' | 'logLines' | 'healthTimer'>,
): Promise<RunningControlPlane & SpawnedProgram> {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'wharf-control-plane-')))
  return spawnProgram({
    entry: 'control-plane/main.ts',
    readyTag: 'WHARF_CONTROL_PLANE_READY',
    env: { ...TEST_ENV, CONTROL_PLANE_ORIGIN_URL: opts.originUrl, ...opts.env, CONTROL_PLANE_DATA_DIR: dataDir },
    dataDir,
    ownsDataDir: !opts.dataDir,
  })
}
