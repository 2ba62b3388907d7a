import { once } from 'node:events'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
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
  /** Stall bounds (default DEFAULT_HTTP_LIMITS). */
  limits?: HttpLimits
}

/** How long a transfer may make no progress before its connection is dropped. */
export interface HttpLimits {
  /** A request body that receives no byte for this long (while the program is ready for more) is dropped. */
  bodyTimeoutMs: number
  /** A response the client takes no byte of for this long (while bytes wait for it) is dropped. */
  sendTimeoutMs: number
}

export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = Object.freeze({ bodyTimeoutMs: 30_000, sendTimeoutMs: 120_000 })

/** The request line and headers together (Node's default, stated): past it the answer is 431. */
export const MAX_HEADER_BYTES = 16 * 1024

export interface Listening {
  server: Server
  port: number
  /** Stops accepting, ends idle keep-alive connections, and resolves once every open request is done. */
  close(): Promise<void>
}

/** Starts a Hono app on Node's HTTP(S) server with timeouts fit for multi-gigabyte blob transfers. */
export async function listen(opts: ListenOptions): Promise<Listening> {
  const limits = opts.limits ?? DEFAULT_HTTP_LIMITS
  const serverOptions = { maxHeaderSize: MAX_HEADER_BYTES }
  const server = serve({
    fetch: opts.fetch as never,
    hostname: opts.host,
    port: opts.port,
    ...(opts.tls
      ? { createServer: createHttpsServer, serverOptions: { ...serverOptions, cert: opts.tls.cert, key: opts.tls.key } }
      : { serverOptions }),
  }) as Server
  // A large layer on a slow link takes longer than any fixed request timeout, so none is set: what bounds a
  // request is progress (the stall watch below), headers within 60 s, and an idle socket closing after 10 minutes.
  server.requestTimeout = 0
  server.headersTimeout = 60_000
  server.keepAliveTimeout = 65_000
  server.setTimeout(10 * 60_000)
  server.on('clientError', onClientError)
  server.on('request', (req: IncomingMessage, res: ServerResponse) => watchStalls(req, res, limits))
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

/**
 * Answers what Node's HTTP parser refused, with a status and a body, instead of Node's bare answer followed at once
 * by a destroyed socket (whose unread request bytes make the kernel send a reset, so the client may never read the
 * answer): a request line and headers over MAX_HEADER_BYTES (a 100 kB URL, say) get 431, headers that took longer
 * than headersTimeout 408, anything else unparseable 400. The connection is half-closed after the answer and what
 * the client still sends is read and dropped for a moment, so the answer arrives before the connection goes.
 */
function onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (answered.has(socket)) return
  answered.add(socket)
  if (err.code === 'ECONNRESET' || !socket.writable || socket.bytesWritten > 0) {
    socket.destroy()
    return
  }
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    endWith(socket, 431, 'Request Header Fields Too Large', `the request line and headers exceed ${MAX_HEADER_BYTES / 1024} KiB`)
  } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    endWith(socket, 408, 'Request Timeout', 'the request headers did not arrive in time')
  } else {
    endWith(socket, 400, 'Bad Request', 'the request is not valid HTTP/1.1')
  }
}

const answered = new WeakSet<Socket>()

/** How long a connection that was given a final answer may go on sending before it is destroyed. */
const LINGER_MS = 2_000

/** Writes a complete error response straight to the socket, ends it, and drops it once the client is done. */
function endWith(socket: Socket, status: number, reason: string, message: string): void {
  const body = JSON.stringify({ errors: [{ code: 'UNSUPPORTED', message, detail: null }] })
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
  socket.resume()
  setTimeout(() => socket.destroy(), LINGER_MS).unref()
}

/** How often a watched transfer is checked, as a share of its timeout. */
const CHECKS_PER_TIMEOUT = 4

/**
 * Drops a request whose body stalls and a response whose client stops reading. A request body counts as stalled
 * when no byte of it arrived for `bodyTimeoutMs` while nothing it sent waits unread on our side (a program that
 * is slow to read, because its disk is, is not the client's stall); it is answered 408 when no response has
 * started, else its connection is destroyed. A response counts as stalled when bytes wait for the client and it
 * took none for `sendTimeoutMs`; its connection is destroyed. A destroyed request ends the handler's read of the
 * body with an error, as a client that went away does (an upload keeps what it stored so far, as then).
 */
function watchStalls(req: IncomingMessage, res: ServerResponse, limits: HttpLimits): void {
  const socket = req.socket
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0
  let bodyAt = Date.now()
  let readingBody = hasBody && !req.complete
  if (readingBody) {
    // every body chunk passes through push(); wrapping it sees progress without taking the stream out of the
    // hands of whoever reads it (a 'data' listener would start it flowing)
    const push = req.push.bind(req)
    req.push = (chunk: unknown, encoding?: BufferEncoding) => {
      bodyAt = Date.now()
      return push(chunk, encoding)
    }
  }
  // bytesWritten counts what waits in the socket's buffer too; what left for the client is the rest
  const dispatched = () => socket.bytesWritten - socket.writableLength
  let sent = dispatched()
  let sentAt = Date.now()
  const tick = Math.max(10, Math.min(limits.bodyTimeoutMs, limits.sendTimeoutMs) / CHECKS_PER_TIMEOUT)
  const timer = setInterval(() => {
    const now = Date.now()
    if (socket.destroyed) return stop()
    if (readingBody && (req.complete || req.destroyed)) readingBody = false
    if (readingBody) {
      if (req.readableLength > 0) bodyAt = now
      else if (now - bodyAt >= limits.bodyTimeoutMs) return dropStalledBody()
    }
    if (dispatched() !== sent || socket.writableLength === 0) {
      sent = dispatched()
      sentAt = now
    } else if (now - sentAt >= limits.sendTimeoutMs) {
      stop()
      socket.destroy()
    }
  }, tick)
  timer.unref()
  const stop = () => clearInterval(timer)
  res.once('close', stop)

  function dropStalledBody(): void {
    stop()
    const message = `the request body made no progress for ${limits.bodyTimeoutMs / 1000} s`
    // a response of an earlier pipelined request may still be writing (res.socket is set once it is this one's turn)
    if (!res.headersSent && res.socket === socket && !answered.has(socket)) {
      answered.add(socket)
      endWith(socket, 408, 'Request Timeout', message)
    } else {
      socket.destroy()
    }
    req.destroy()
  }
}
