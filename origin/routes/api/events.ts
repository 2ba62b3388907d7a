import { Hono } from 'hono'
import type { ApiEnv } from '../../http/api-auth.ts'
import { ApiError } from '../../http/api-errors.ts'
import type { EventFilter } from '../../storage/events-store.ts'
import { caller, paging, parseTime } from './input.ts'
import type { ApiServices } from './services.ts'

/**
 * The event log, newest first: GET /events?actor=&action=&targetType=&target=&since=&until=&before=&limit=
 * `target` ending in `*` matches a prefix; `since`/`until` are ISO times or epoch ms; `before` is the `next` cursor.
 */
export function eventRoutes({ audit }: ApiServices) {
  const app = new Hono<ApiEnv>()

  app.get('/events', (c) => {
    const { limit } = paging(c)
    const q = (k: string) => {
      const v = c.req.query(k)
      return v === '' ? undefined : v
    }
    const filter: EventFilter = { limit }
    for (const key of ['actor', 'action', 'targetType', 'target'] as const) {
      const v = q(key)
      if (v !== undefined) filter[key] = v.slice(0, 1000)
    }
    const since = q('since')
    const until = q('until')
    const before = q('before')
    if (since !== undefined) filter.since = parseTime(since, 'since')
    if (until !== undefined) filter.until = parseTime(until, 'until')
    if (before !== undefined) {
      if (!/^\d{1,15}$/.test(before))
        throw new ApiError('BAD_REQUEST', 'before must be an event id (the next of the previous page)')
      filter.before = Number(before)
    }
    const page = audit.list(caller(c), filter)
    return c.json({ events: page.items, next: page.next })
  })

  return app
}
