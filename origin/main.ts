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
  const log = pino({ level: config.logLevel, redact: REDACT, base: { program: 'origin' } })
  let tls: { cert: Buffer; key: Buffer } | undefined
  if (config.tls) {
    try {
      tls = { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) }
    } catch (err) {
      console.error(`origin: cannot read ORIGIN_TLS_CERT/ORIGIN_TLS_KEY: ${(err as Error).message}`)
      process.exit(2)
    }
  }
  // bind first: with port 0 the public URL (the token realm among others) needs the port the OS picked
  let handler: FetchHandler = () => new Response('starting', { status: 503 })
  const server = await listen({ fetch: (req, env) => handler(req, env), host: config.listen.host, port: config.listen.port, tls })
  config = withBoundPort(config, server.port)
  const deps = await createDeps(config, log)
  const app = buildApp(deps)
  handler = app.fetch as FetchHandler
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
  // the scheduled LDAP sync (settings' syncSchedule); rescheduled when the settings change
  deps.identity.ldap.start()
  log.info({ listen: `${config.listen.host}:${server.port}`, publicUrl: config.publicUrl.href, dataDir: config.dataDir }, 'origin listening')
  // the line tests and scripts wait for
  process.stdout.write(`WHARF_ORIGIN_READY ${config.listen.host}:${server.port}\n`)

  const stop = (signal: string) => {
    log.info({ signal }, 'stopping')
    clearInterval(purge)
    server.close().then(
      async () => {
        await deps.identity.ldap.stop()
        deps.db.close()
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
    console.error(`origin: cannot listen on ${process.env.ORIGIN_LISTEN ?? '127.0.0.1:5000'} (${code}): stop what uses it, or set ORIGIN_LISTEN`)
  } else {
    console.error('origin: failed to start:', err)
  }
  process.exit(1)
})
