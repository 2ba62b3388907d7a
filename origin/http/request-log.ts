import { randomUUID } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import type { Logger } from 'pino'
import type { AppEnv } from './env.ts'
import { setResponseHeader } from '../../lib/node-io.ts'

/**
 * Gives each request a child logger and writes one completion line when the response is done: method, route,
 * status, bytes, duration. On the Node server the line is written when the socket response closes, so streamed
 * bodies are timed to their last byte and a client that went away shows as `aborted`.
 */
export function requestLog(root: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const inbound = c.req.header('x-request-id')
    const reqId = inbound && /^[\w.-]{1,64}$/.test(inbound) ? inbound : randomUUID()
    const log = root.child({ reqId })
    c.set('log', log)
    c.set('reqId', reqId)
    const started = performance.now()
    const line = (status: number, bytes: number | undefined, aborted: boolean) => {
      log.info(
        {
          method: c.req.method,
          route: c.req.routePath,
          path: c.req.path,
          status,
          bytes,
          ms: Math.round((performance.now() - started) * 10) / 10,
          ...(aborted ? { aborted } : {}),
          ...(c.get('redirect') ? { redirect: c.get('redirect') } : {}),
        },
        'request',
      )
    }
    const outgoing = c.env?.outgoing
    if (outgoing) {
      outgoing.once('close', () => {
        const length = outgoing.getHeader('content-length')
        line(outgoing.statusCode, length === undefined ? undefined : Number(length), !outgoing.writableFinished)
      })
    }
    setResponseHeader(c, 'X-Request-Id', reqId)
    await next()
    if (!outgoing) {
      const length = c.res.headers.get('content-length')
      line(c.res.status, length === null ? undefined : Number(length), false)
    }
  }
}
