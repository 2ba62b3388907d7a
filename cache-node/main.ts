import { readFileSync } from 'node:fs'
import pino from 'pino'
import { ConfigError } from '../lib/config.ts'
import { listen, type FetchHandler } from '../lib/server.ts'
import { buildApp, createDeps } from './app.ts'
import { loadConfig, withBoundPort } from './config.ts'

const REDACT = ['req.headers.authorization', 'req.headers.cookie', '*.password', '*.token', '*.secret']

async function main(): Promise<void> {
  let config
  try {
    config = loadConfig(process.env)
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message)
      process.exit(2)
    }
    throw err
  }
  const log = pino({ level: config.logLevel, redact: REDACT, base: { program: 'cache-node' } })
  let tls: { cert: Buffer; key: Buffer } | undefined
  if (config.tls) {
    try {
      tls = { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) }
    } catch (err) {
      console.error(`cache-node: cannot read CACHE_TLS_CERT/CACHE_TLS_KEY: ${(err as Error).message}`)
      process.exit(2)
    }
  }
  // bind first: with port 0 the public URL needs the port the OS picked
  let handler: FetchHandler = () => new Response('starting', { status: 503 })
  const server = await listen({
    fetch: (req, env) => handler(req, env),
    host: config.listen.host,
    port: config.listen.port,
    tls,
  })
  config = withBoundPort(config, server.port)
  const deps = await createDeps(config, log)
  handler = buildApp(deps).fetch as FetchHandler
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
      maxBytes: config.maxBytes,
      usedBytes: deps.store.usedBytes,
    },
    'cache node listening',
  )
  // the line tests and scripts wait for
  process.stdout.write(`WHARF_CACHE_READY ${config.listen.host}:${server.port}\n`)

  const stop = (signal: string) => {
    log.info({ signal }, 'stopping')
    server.close().then(
      async () => {
        await deps.close()
        process.exit(0)
      },
      () => process.exit(1),
    )
    setTimeout(() => process.exit(0), 10_000).unref()
  }
  process.once('SIGINT', () => stop('SIGINT'))
  process.once('SIGTERM', () => stop('SIGTERM'))
}

main().catch((err: unknown) => {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
    console.error(
      `cache-node: cannot listen on ${process.env.CACHE_LISTEN ?? '127.0.0.1:5001'} (${code}): stop what uses it, or set CACHE_LISTEN`,
    )
  } else {
    console.error('cache-node: failed to start:', err)
  }
  process.exit(1)
})
