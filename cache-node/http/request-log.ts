import { randomUUID } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import type { Logger } from 'pino'
import { requestOutcome, type Metrics } from '../metrics.ts'
import type { AppEnv } from './env.ts'
import { setResponseHeader } from '../../lib/node-io.ts'

/**
 * Gives each request a child logger and writes one completion line when the response is done: method, path,
 * status, bytes, duration and, for content, kind, repository, upstream and `cache` (hit, miss, coalesced, stale;
 * or auth, not_found, refused, error for a request answered without content: see requestOutcome).
 * The same record feeds the metrics. On the Node server the line is written when the socket response closes, so
 * streamed bodies are timed to their last byte and a client that went away shows as `aborted`.
 */
export function requestLog(root: Logger, metrics: Metrics): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const inbound = c.req.header('x-request-id')
    const reqId = inbound && /^[\w.-]{1,64}$/.test(inbound) ? inbound : randomUUID()
    const log = root.child({ reqId })
    const served: AppEnv['Variables']['served'] = { bytes: 0 }
    c.set('log', log)
    c.set('reqId', reqId)
    c.set('served', served)
    const started = performance.now()
    const line = (status: number, aborted: boolean) => {
      log.info(
        {
          method: c.req.method,
          path: c.req.path,
          status,
          bytes: served.bytes,
          ms: Math.round((performance.now() - started) * 10) / 10,
          ...(served.kind
            ? {
                kind: served.kind,
                repository: served.repository,
                upstream: served.upstream,
                cache: requestOutcome(served.cache, status),
              }
            : {}),
          ...(aborted ? { aborted } : {}),
        },
        'request',
      )
      if (served.kind)
        metrics.request({
          kind: served.kind,
          cache: served.cache,
          status,
          repository: served.repository,
          bytes: served.bytes,
        })
    }
    const outgoing = c.env?.outgoing
    if (outgoing) outgoing.once('close', () => line(outgoing.statusCode, !outgoing.writableFinished))
    setResponseHeader(c, 'X-Request-Id', reqId)
    await next()
    if (!outgoing) {
      if (served.bytes === 0 && c.req.method !== 'HEAD') served.bytes = Number(c.res.headers.get('content-length') ?? 0)
      line(c.res.status, false)
    }
  }
}
