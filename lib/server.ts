import { once } from 'node:events'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { serve } from '@hono/node-server'

export type FetchHandler = (req: Request, env: never) => Response | Promise<Response>

export interface ListenOptions {
  /** The handler, or a function giving it: a late-bound handler lets an app be built after the port is known. */
  fetch: FetchHandler
  host: string
  port: number
  /** PEM certificate chain and key; plain HTTP when absent. */
  tls?: { cert: Buffer; key: Buffer }
}

export interface Listening {
  server: Server
  port: number
  /** Stops accepting, ends idle keep-alive connections, and resolves once every open request is done. */
  close(): Promise<void>
}

/** Starts a Hono app on Node's HTTP(S) server with timeouts fit for multi-gigabyte blob transfers. */
export async function listen(opts: ListenOptions): Promise<Listening> {
  const server = serve({
    fetch: opts.fetch as never,
    hostname: opts.host,
    port: opts.port,
    ...(opts.tls ? { createServer: createHttpsServer, serverOptions: { cert: opts.tls.cert, key: opts.tls.key } } : {}),
  }) as Server
  // a large layer on a slow link takes longer than Node's 5-minute default request timeout; idle sockets still time out
  server.requestTimeout = 0
  server.headersTimeout = 60_000
  server.keepAliveTimeout = 65_000
  server.setTimeout(10 * 60_000)
  if (!server.listening) {
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve)
      server.once('error', reject)
    })
  }
  // close() ends the connections that are idle at that moment. A connection whose response is still being written
  // (a request in flight, or a streamed blob whose last bytes the client already has) turns idle only later and
  // would then hold close() until the keep-alive timeout, so while closing: end each connection as its response
  // finishes, and ask clients of requests that still arrive on open connections to close them.
  let closing = false
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    if (closing && !res.headersSent) res.setHeader('Connection', 'close')
    res.once('finish', () => {
      if (closing) setImmediate(() => server.closeIdleConnections())
    })
  })
  const { port } = server.address() as AddressInfo
  return {
    server,
    port,
    async close() {
      closing = true
      const closed = once(server, 'close')
      server.close()
      server.closeIdleConnections()
      await closed
    },
  }
}
