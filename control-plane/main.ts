import type { FetchHandler } from '../lib/server.ts'
import { runProgram } from '../lib/program.ts'
import { buildApp } from './app.ts'
import { createDeps, type ControlPlaneDeps } from './deps.ts'
import { loadConfig, withBoundPort, type ControlPlaneConfig } from './config.ts'

runProgram<Readonly<ControlPlaneConfig>, ControlPlaneDeps>({
  name: 'control-plane',
  envPrefix: 'CONTROL_PLANE',
  loadConfig,
  withBoundPort,
  async start(config, log) {
    const deps = await createDeps(config, log)
    return { deps, fetch: buildApp(deps).fetch as FetchHandler }
  },
  ready(config, deps, server, log) {
    log.info(
      {
        listen: `${config.listen.host}:${server.port}`,
        publicUrl: config.publicUrl.href,
        origin: config.originUrl.origin,
        originReached: deps.keys.identity() !== undefined,
        dataDir: config.dataDir,
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        downAfter: config.downAfter,
      },
      'control plane listening',
    )
    // the line tests and scripts wait for
    process.stdout.write(`WHARF_CONTROL_PLANE_READY ${config.listen.host}:${server.port}\n`)
  },
  async stop(deps) {
    await deps.close()
  },
})
