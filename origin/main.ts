import type { FetchHandler } from '../lib/server.ts'
import { runProgram } from '../lib/program.ts'
import { buildApp } from './app.ts'
import { loadConfig, withBoundPort, type OriginConfig } from './config.ts'
import { createDeps, type OriginDeps } from './deps.ts'

runProgram<Readonly<OriginConfig>, OriginDeps>({
  name: 'origin',
  envPrefix: 'ORIGIN',
  loadConfig,
  withBoundPort,
  async start(config, log) {
    const deps = await createDeps(config, log)
    return { deps, fetch: buildApp(deps).fetch as FetchHandler }
  },
  ready(config, deps, server, log) {
    if (deps.identity.bootstrap) {
      const { username, password } = deps.identity.bootstrap
      // printed once, on the first start only; never logged
      process.stdout.write(`WHARF_ADMIN_CREDENTIALS ${username} ${password}\n`)
    }
    log.info(
      { listen: `${config.listen.host}:${server.port}`, publicUrl: config.publicUrl.href, dataDir: config.dataDir },
      'origin listening',
    )
    // the line tests and scripts wait for
    process.stdout.write(`WHARF_ORIGIN_READY ${config.listen.host}:${server.port}\n`)
  },
  async stop(deps) {
    await deps.close()
  },
})
