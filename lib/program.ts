/**
 * The start-up steps every program's main.ts shares: configuration that exits with a clear message, TLS files,
 * binding before the app exists (port 0 needs the bound port), one root logger, and a graceful stop on signals.
 */
import { readFileSync } from 'node:fs'
import pino, { type Logger } from 'pino'
import { ConfigError } from './config.ts'
import { listen, type FetchHandler, type HttpLimits, type Listening } from './server.ts'

/** Secrets never reach a log line. */
export const REDACT = ['req.headers.authorization', 'req.headers.cookie', '*.password', '*.token', '*.secret']

export interface ProgramSpec<C extends { listen: { host: string; port: number }; logLevel: string; tls?: { certFile: string; keyFile: string }; http: HttpLimits }, D> {
  /** `origin`, `cache-node`: prefixes messages and names the program in logs. */
  name: string
  /** Environment variable prefix (`ORIGIN`, `CACHE`), for messages. */
  envPrefix: string
  loadConfig(env: NodeJS.ProcessEnv): C
  /** The configuration once the port is known. */
  withBoundPort(config: C, port: number): C
  /** Opens storage and builds the app; runs after the port is bound. */
  start(config: C, log: Logger): Promise<{ deps: D; fetch: FetchHandler }>
  /** Called once listening: print the READY line and what else the operator needs. */
  ready(config: C, deps: D, server: Listening, log: Logger): void
  /** Releases what `start` opened, after the server has stopped. */
  stop(deps: D): Promise<void>
}

export function runProgram<C extends { listen: { host: string; port: number }; logLevel: string; tls?: { certFile: string; keyFile: string }; http: HttpLimits }, D>(
  spec: ProgramSpec<C, D>,
): void {
  main(spec).catch((err: unknown) => {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      const where = process.env[`${spec.envPrefix}_LISTEN`] ?? 'its default address'
      process.stderr.write(`${spec.name}: cannot listen on ${where} (${code}): stop what uses it, or set ${spec.envPrefix}_LISTEN\n`)
    } else {
      process.stderr.write(`${spec.name}: failed to start: ${(err as Error).stack ?? String(err)}\n`)
    }
    process.exit(1)
  })
}

async function main<C extends { listen: { host: string; port: number }; logLevel: string; tls?: { certFile: string; keyFile: string }; http: HttpLimits }, D>(
  spec: ProgramSpec<C, D>,
): Promise<void> {
  let config: C
  try {
    config = spec.loadConfig(process.env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`${err.message}\n`)
    process.exit(2)
  }
  const log = pino({ level: config.logLevel, redact: REDACT, base: { program: spec.name } })
  lastResort(log)
  let tls: { cert: Buffer; key: Buffer } | undefined
  if (config.tls) {
    try {
      tls = { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) }
    } catch (err) {
      process.stderr.write(`${spec.name}: cannot read ${spec.envPrefix}_TLS_CERT/${spec.envPrefix}_TLS_KEY: ${(err as Error).message}\n`)
      process.exit(2)
    }
  }
  // bind first: with port 0 the public URL (a token realm among others) needs the port the OS picked
  let handler: FetchHandler = () => new Response('starting', { status: 503 })
  const server = await listen({
    fetch: (req, env) => handler(req, env),
    host: config.listen.host,
    port: config.listen.port,
    tls,
    limits: config.http,
  })
  // after listening, a server error (accept failing for want of file descriptors, say) is no reason to stop serving
  server.server.on('error', (err) => log.error({ err }, 'server error'))
  config = spec.withBoundPort(config, server.port)
  const { deps, fetch } = await spec.start(config, log)
  handler = fetch
  spec.ready(config, deps, server, log)

  const stop = (signal: string) => {
    log.info({ signal }, 'stopping')
    server.close().then(
      async () => {
        await spec.stop(deps)
        process.exit(0)
      },
      () => process.exit(1),
    )
    setTimeout(() => process.exit(0), 10_000).unref()
  }
  process.once('SIGINT', () => stop('SIGINT'))
  process.once('SIGTERM', () => stop('SIGTERM'))
}

/**
 * The last resort, not the fix: every request, stream and background task handles its own errors, and these only
 * log what slipped through. An unhandled rejection is one promise's failure that nothing awaited; the code that
 * failed has already unwound, so it is logged and the program serves on (Node's default would exit and take every
 * other client's transfer with it). An uncaught exception is logged and the program exits: it was thrown from an
 * event handler in the middle of something, an undici assertion (its parser or connection pool no longer in a
 * state it knows) as much as a bug of ours, and carrying on could hang requests or serve wrong bytes, which a
 * restart by the supervisor cannot. Exit status 70 (EX_SOFTWARE) tells it from a signal or a bad configuration.
 */
function lastResort(log: Logger): void {
  process.on('unhandledRejection', (err) => {
    log.error({ err }, 'unhandled promise rejection (a bug: the failure was not handled where it happened)')
  })
  process.on('uncaughtException', (err, origin) => {
    const fromUndici = /[\\/]node_modules[\\/]undici[\\/]/.test(err?.stack ?? '')
    log.fatal({ err, origin, fromUndici }, 'uncaught exception; exiting')
    process.exit(70)
  })
}
