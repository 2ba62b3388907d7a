/**
 * Starting a program inside the test process, as its main.ts would: bind on an ephemeral loopback port first (a
 * derived public URL needs the port), then build the app. Shared by start-origin, start-cache and
 * start-control-plane.
 */
import { rm } from 'node:fs/promises'
import pino, { type Logger } from 'pino'
import { listen, type FetchHandler, type HttpLimits } from '../../lib/server.ts'

export interface InProcess<D> {
  /** http://127.0.0.1:PORT */
  url: string
  /** 127.0.0.1:PORT, as image references name it */
  host: string
  dataDir: string
  deps: D
  close(): Promise<void>
}

/** A silent logger, or one that collects each line as an object, for tests that assert on logs. */
export function testLogger(logLines?: Record<string, unknown>[]): Logger {
  return logLines
    ? pino(
        { level: 'info' },
        { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) },
      )
    : pino({ level: 'silent' })
}

export async function serveInProcess<D>(opts: {
  /** Builds the program for the bound port. */
  start(port: number): Promise<{ deps: D; fetch: FetchHandler }>
  /** Releases what `start` opened, after the server has stopped. */
  stop(deps: D): Promise<void> | void
  dataDir: string
  /** Whether close() removes the data folder (a temporary one the helper made). */
  ownsDataDir: boolean
  /** The program's stall bounds (its config's `http`), as its main.ts passes them. */
  limits?: HttpLimits
}): Promise<InProcess<D>> {
  let handler: FetchHandler = () => new Response('starting', { status: 503 })
  const server = await listen({
    fetch: (req, env) => handler(req, env),
    host: '127.0.0.1',
    port: 0,
    limits: opts.limits,
  })
  const { deps, fetch } = await opts.start(server.port)
  handler = fetch
  const host = `127.0.0.1:${server.port}`
  return {
    url: `http://${host}`,
    host,
    dataDir: opts.dataDir,
    deps,
    async close() {
      await server.close()
      await opts.stop(deps)
      if (opts.ownsDataDir) await rm(opts.dataDir, { recursive: true, force: true })
    },
  }
}
