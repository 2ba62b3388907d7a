import type { Readable } from 'node:stream'
import { Readable as NodeReadable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Context } from 'hono'
import type { HttpBindings } from '@hono/node-server'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import type { AppEnv } from './env.ts'

type NodeContext = Context<{ Bindings: HttpBindings }>

/** Sets a header on whatever response the request ends with, also one written straight to the socket by sendStream. */
export function setResponseHeader(c: Context, name: string, value: string): void {
  const outgoing = (c as NodeContext).env?.outgoing
  if (outgoing) outgoing.setHeader(name, value)
  else c.header(name, value)
}

/**
 * Sends a stream as the response, counting the body bytes into `c.var.served`. On the Node server the stream is
 * piped straight into the socket; when the stream fails after the headers are out (a fill that turned out
 * corrupt), the connection is destroyed, so the client sees a cut response and never a complete wrong one.
 */
export async function sendStream(
  c: Context<AppEnv>,
  status: number,
  headers: Record<string, string>,
  stream: Readable,
): Promise<Response> {
  const served = c.var.served
  stream.on('data', (chunk: Buffer) => {
    served.bytes += chunk.byteLength
  })
  const outgoing = (c as unknown as NodeContext).env?.outgoing
  if (!outgoing) {
    for (const [k, v] of Object.entries(headers)) c.header(k, v)
    return c.body(NodeReadable.toWeb(stream) as ReadableStream, status as 200)
  }
  outgoing.writeHead(status, headers)
  // out now, not with the first body bytes: a fill may be waiting for its upstream (containerd gives up on
  // response headers after 30 s)
  outgoing.flushHeaders()
  pipeline(stream, outgoing).catch((err: unknown) => {
    c.var.log.warn(
      { err: { message: (err as Error).message, code: (err as { code?: string }).code } },
      'response cut short',
    )
  })
  return RESPONSE_ALREADY_SENT
}
