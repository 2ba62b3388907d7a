import { Readable } from 'node:stream'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import { pipeline } from 'node:stream/promises'
import type { Context } from 'hono'
import type { HttpBindings } from '@hono/node-server'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'

type NodeContext = Context<{ Bindings: HttpBindings }>

/**
 * The request body as a Node stream. On the Node server this is the socket's IncomingMessage itself, which
 * avoids the web-stream adapter on multi-gigabyte uploads; elsewhere (app.request in a test) the web body.
 */
export function requestBody(c: Context): Readable {
  const incoming = (c as NodeContext).env?.incoming
  if (incoming) return incoming
  const body = c.req.raw.body
  return body ? Readable.fromWeb(body as WebReadableStream) : Readable.from([])
}

/**
 * Sets a header on whatever response the request ends with: also one a handler writes straight to the socket
 * with sendStream (Node merges headers set here into its writeHead).
 */
export function setResponseHeader(c: Context, name: string, value: string): void {
  const outgoing = (c as NodeContext).env?.outgoing
  if (outgoing) outgoing.setHeader(name, value)
  else c.header(name, value)
}

export interface SendStreamOptions {
  /** Called with each body chunk's size as it leaves (byte counters). */
  onChunk?: (bytes: number) => void
  /** Called when the stream fails after the headers are out; the connection is destroyed either way. */
  onCutShort?: (err: unknown) => void
}

/**
 * Sends a stream as the response. On the Node server the stream is piped straight into the socket (no web-stream
 * adapter on the hot path) and the headers leave at once, before the first body bytes (a cache's fill may still be
 * waiting for its upstream). A stream that fails after the headers are out destroys the connection, so the client
 * sees a cut response, never a complete wrong one; a client that goes away destroys the stream.
 */
export async function sendStream(
  c: Context,
  status: number,
  headers: Record<string, string>,
  stream: Readable,
  opts: SendStreamOptions = {},
): Promise<Response> {
  const { onChunk, onCutShort } = opts
  if (onChunk) stream.on('data', (chunk: Buffer) => onChunk(chunk.byteLength))
  const outgoing = (c as NodeContext).env?.outgoing
  if (!outgoing) {
    for (const [k, v] of Object.entries(headers)) c.header(k, v)
    return c.body(Readable.toWeb(stream) as ReadableStream, status as 200)
  }
  outgoing.writeHead(status, headers)
  outgoing.flushHeaders()
  pipeline(stream, outgoing).catch((err: unknown) => onCutShort?.(err))
  return RESPONSE_ALREADY_SENT
}

/** The peer address of the request's connection ('unknown' outside the Node server). */
export function clientAddress(c: Context): string {
  return (c as NodeContext).env?.incoming?.socket?.remoteAddress ?? 'unknown'
}
