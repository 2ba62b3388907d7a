import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { spawnProgram, type SpawnedProgram } from './spawn-program.ts'
import { buildApp, createDeps, type ControlPlaneDeps } from '../../control-plane/app.ts'
import { loadConfig, withBoundPort } from '../../control-plane/config.ts'
import { listen, type FetchHandler } from '../../lib/server.ts'

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
  const log = opts.logLines
    ? pino(
        { level: 'info' },
        { write: (line: string) => void opts.logLines!.push(JSON.parse(line) as Record<string, unknown>) },
      )
    : pino({ level: 'silent' })
  let handler: FetchHandler = () => new Response('starting', { status: 503 })
  const server = await listen({ fetch: (req, env) => handler(req, env), host: '127.0.0.1', port: 0 })
  const deps = await createDeps(withBoundPort(config, server.port), log, {
    now: opts.now,
    healthTimer: opts.healthTimer,
  })
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
