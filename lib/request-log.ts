import type { HttpBindings } from '@hono/node-server'
import type { Context, MiddlewareHandler } from 'hono'
import { routePath } from 'hono/route'
import type { Logger } from 'pino'
import { clientAddress as peerAddress } from './node-io.ts'

/** Query parameters whose values are credentials (a cache grant, a token): logged as `[redacted]`. */
export const SECRET_QUERY_PARAMS = [
  'grant',
  'token',
  'access_token',
  'refresh_token',
  'password',
  'secret',
  'sig',
  'signature',
]

/** What one finished request was, as its log line and the metrics see it. */
export interface RequestRecord {
  method: string
  /** The matched route pattern (`/v2/:name{...}/blobs/:digest`), never the raw path: a bounded label. */
  route: string
  path: string
  status: number
  /** Request body bytes: its Content-Length, or what the socket read while it was served (a chunked body). */
  bytesIn: number
  /** Response bytes written (the body; headers not counted). */
  bytesOut: number
  ms: number
  /** The client went away before the response was complete. */
  aborted: boolean
  requestId: string
  client: string
}

export interface RequestLogOptions {
  /** Extra fields for the line, read once the response is done (the cache's outcome, the caller's kind). */
  fields?: (c: Context, record: RequestRecord) => Record<string, unknown>
  /** Called once per request with its record, after the line (metrics). */
  onDone?: (record: RequestRecord, c: Context) => void
  /** The client's address; default the TCP peer. */
  client?: (c: Context) => string
}

type NodeContext = Context<{ Bindings: HttpBindings; Variables: { requestId?: string; log?: Logger } }>

/**
 * Gives each request a child logger (`reqId` from hono/request-id, which must run first) and writes one line when
 * the response is done: method, route, path, query with credentials redacted, status, bytes in and out, duration,
 * request id and client address. On the Node server the line is written when the socket response closes, so
 * streamed bodies (also those a handler pipes straight into the socket) are timed and counted to their last byte,
 * and a client that went away shows as `aborted`. Never a header or a body.
 */
export function requestLog(root: Logger, opts: RequestLogOptions = {}): MiddlewareHandler {
  return async (c0, next) => {
    const c = c0 as NodeContext
    const requestId = c.get('requestId') ?? 'none'
    const log = root.child({ reqId: requestId })
    c.set('log', log)
    const started = performance.now()
    const outgoing = c.env?.outgoing
    const incoming = c.env?.incoming
    let bytesOut = 0
    const readAtStart = incoming?.socket?.bytesRead ?? 0
    const done = (status: number, aborted: boolean, fallbackBytesOut: number) => {
      const declared = c.req.header('content-length')
      const bytesIn =
        declared !== undefined
          ? Number(declared) || 0
          : Math.max(0, (incoming?.socket?.bytesRead ?? readAtStart) - readAtStart)
      const record: RequestRecord = {
        method: c.req.method,
        route: routePath(c) || c.req.path,
        path: c.req.path,
        status,
        bytesIn,
        // Node sends no body for HEAD, whatever a handler handed it
        bytesOut: c.req.method === 'HEAD' ? 0 : outgoing ? bytesOut : fallbackBytesOut,
        ms: Math.round((performance.now() - started) * 10) / 10,
        aborted,
        requestId,
        client: opts.client ? opts.client(c) : peerAddress(c),
      }
      const query = redactedQuery(c.req.url)
      const { method, route, path, ms, client } = record
      log.info(
        {
          method,
          route,
          path,
          ...(query ? { query } : {}),
          status,
          bytesIn,
          bytesOut: record.bytesOut,
          ms,
          client,
          ...(aborted ? { aborted } : {}),
          ...opts.fields?.(c, record),
        },
        'request',
      )
      opts.onDone?.(record, c)
    }
    if (outgoing) {
      // a handler may write to the socket itself (sendStream), so the bytes are counted where they leave
      const write = outgoing.write.bind(outgoing) as (...args: unknown[]) => boolean
      const end = outgoing.end.bind(outgoing) as (...args: unknown[]) => typeof outgoing
      const count = (chunk: unknown, encoding: unknown) => {
        if (typeof chunk === 'string')
          bytesOut += Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
        else if (chunk instanceof Uint8Array) bytesOut += chunk.byteLength
      }
      outgoing.write = ((chunk: unknown, ...rest: unknown[]) => {
        count(chunk, rest[0])
        return write(chunk, ...rest)
      }) as typeof outgoing.write
      outgoing.end = ((...args: unknown[]) => {
        if (typeof args[0] !== 'function') count(args[0], args[1])
        return end(...args)
      }) as typeof outgoing.end
      // the id is on responses written straight to the socket too (Node merges it into their writeHead)
      outgoing.setHeader('X-Request-Id', requestId)
      outgoing.once('close', () => done(outgoing.statusCode, !outgoing.writableFinished, 0))
    }
    await next()
    if (!outgoing) {
      const length = c.req.method === 'HEAD' ? null : c.res.headers.get('content-length')
      done(c.res.status, false, length === null ? 0 : Number(length))
    }
  }
}

/** The query string with the values of SECRET_QUERY_PARAMS replaced; undefined when there is none. */
export function redactedQuery(url: string): string | undefined {
  const i = url.indexOf('?')
  if (i < 0 || i === url.length - 1) return undefined
  return url
    .slice(i + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=')
      const key = eq < 0 ? pair : pair.slice(0, eq)
      let name = key
      try {
        name = decodeURIComponent(key)
      } catch {
        // a malformed escape stays as it was
      }
      return eq >= 0 && SECRET_QUERY_PARAMS.includes(name.toLowerCase()) ? `${key}=[redacted]` : pair
    })
    .join('&')
}
