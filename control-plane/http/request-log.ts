import { randomUUID } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import type { Logger } from 'pino'
import type { AppEnv } from './env.ts'

/**
 * Gives each request a child logger and writes one completion line: method, route, path, status, bytes, duration and
 * the kind of caller. Never the Authorization header, the query string (it may carry nothing secret today, but the
 * path is enough) or a body.
 */
export function requestLog(root: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const inbound = c.req.header('x-request-id')
    const reqId = inbound && /^[\w.-]{1,64}$/.test(inbound) ? inbound : randomUUID()
    const log = root.child({ reqId })
    c.set('log', log)
    c.set('reqId', reqId)
    const started = performance.now()
    await next()
    c.header('X-Request-Id', reqId)
    const caller = c.get('caller')
    const length = c.res.headers.get('content-length')
    log.info(
      {
        method: c.req.method,
        route: c.req.routePath,
        path: c.req.path,
        status: c.res.status,
        bytes: length === null ? undefined : Number(length),
        ms: Math.round((performance.now() - started) * 10) / 10,
        caller: caller?.kind,
        ...(caller && 'siteId' in caller ? { siteId: caller.siteId } : {}),
        ...(caller && 'subject' in caller ? { subject: caller.subject } : {}),
      },
      'request',
    )
  }
}
