import type { FetchHandler } from '../lib/server.ts'
import { ConfigError } from '../lib/config.ts'
import { runProgram } from '../lib/program.ts'
import { buildApp, createDeps, type CacheDeps } from './app.ts'
import { loadConfig, withBoundPort, type CacheConfig } from './config.ts'

runProgram<Readonly<CacheConfig>, CacheDeps>({
  name: 'cache-node',
  envPrefix: 'CACHE',
  loadConfig,
  withBoundPort,
  async start(config, log) {
    const deps = await createDeps(config, log).catch((err: unknown) => {
      // what only start-up can check (a control plane to join with no identity stored and no token): as bad config
      if (!(err instanceof ConfigError)) throw err
      process.stderr.write(`${err.message}\n`)
      process.exit(2)
    })
    return { deps, fetch: buildApp(deps).fetch as FetchHandler }
  },
  ready(config, deps, server, log) {
    log.info(
      {
        listen: `${config.listen.host}:${server.port}`,
        publicUrl: config.publicUrl.href,
        origin: config.originUrl.origin,
        upstream: config.upstream.url.origin,
        rules: config.rules.map((r) =>
          r.match === 'ns' ? `${r.ns}=${r.upstream.url.origin}` : `${r.prefix}/=${r.upstream.url.origin}`,
        ),
        dataDir: config.dataDir,
        ...(config.controlPlane
          ? { controlPlane: config.controlPlane.url.href, site: deps.site?.identity()?.siteName ?? 'joining' }
          : {}),
        maxBytes: config.maxBytes,
        usedBytes: deps.store.usedBytes,
      },
      'cache node listening',
    )
    // the line tests and scripts wait for
    process.stdout.write(`WHARF_CACHE_READY ${config.listen.host}:${server.port}\n`)
  },
  async stop(deps) {
    await deps.close()
  },
})
