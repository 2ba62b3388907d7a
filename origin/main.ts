import type { FetchHandler } from '../lib/server.ts'
import { runProgram } from '../lib/program.ts'
import { buildApp, createDeps, type OriginDeps } from './app.ts'
import { loadConfig, withBoundPort, type OriginConfig } from './config.ts'

/** Timers the origin runs besides serving requests; cleared on stop. */
const timers: NodeJS.Timeout[] = []

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
    const purge = setInterval(() => {
      deps.uploads.purgeStale(config.uploadTtlMs).then(
        (n) => n > 0 && log.info({ removed: n }, 'removed stale upload sessions'),
        (err: unknown) => log.error({ err }, 'upload purge failed'),
      )
    }, 60 * 60_000)
    purge.unref()
    timers.push(purge)
    // the scheduled LDAP sync (settings' syncSchedule); rescheduled when the settings change
    deps.identity.ldap.start()
    log.info({ listen: `${config.listen.host}:${server.port}`, publicUrl: config.publicUrl.href, dataDir: config.dataDir }, 'origin listening')
    // the line tests and scripts wait for
    process.stdout.write(`WHARF_ORIGIN_READY ${config.listen.host}:${server.port}\n`)
  },
  async stop(deps) {
    for (const t of timers) clearInterval(t)
    await deps.identity.ldap.stop()
    await deps.network.controlPlane?.close()
    deps.db.close()
  },
})
