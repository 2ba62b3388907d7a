import { Hono } from 'hono'
import { z } from 'zod'
import { strict } from '../../../lib/validation.ts'
import type { ApiEnv } from '../../http/api-auth.ts'
import type { EventFilter } from '../../storage/events-store.ts'
import { caller, PAGE, query, time } from './input.ts'
import type { ApiServices } from './services.ts'

/** An empty parameter counts as absent. */
const blank = (v: unknown) => (v === '' ? undefined : v)
const FILTER = z.preprocess(
  blank,
  z
    .string()
    .transform((v) => v.slice(0, 1000))
    .optional(),
)
const BEFORE_ERROR = 'must be an event id (the next of the previous page)'

export const EVENTS_QUERY = strict({
  limit: PAGE.limit,
  actor: FILTER,
  action: FILTER,
  targetType: FILTER,
  target: FILTER,
  since: z.preprocess(blank, time().optional()),
  until: z.preprocess(blank, time().optional()),
  before: z.preprocess(
    blank,
    z
      .string()
      .regex(/^\d{1,15}$/, { error: BEFORE_ERROR })
      .transform(Number)
      .optional(),
  ),
})

/** The filter a validated events query asks for. */
export function eventFilter(q: z.output<typeof EVENTS_QUERY>): EventFilter {
  const filter: EventFilter = { limit: q.limit }
  for (const key of ['actor', 'action', 'targetType', 'target', 'since', 'until', 'before'] as const) {
    const v = q[key]
    if (v !== undefined) (filter as Record<typeof key, unknown>)[key] = v
  }
  return filter
}

/**
 * The event log, newest first: GET /events?actor=&action=&targetType=&target=&since=&until=&before=&limit=
 * `target` ending in `*` matches a prefix; `since`/`until` are ISO times or epoch ms; `before` is the `next` cursor.
 */
export function eventRoutes({ audit }: ApiServices) {
  const app = new Hono<ApiEnv>()

  app.get('/events', query(EVENTS_QUERY), (c) => {
    const page = audit.list(caller(c), eventFilter(c.req.valid('query')))
    return c.json({ events: page.items, next: page.next })
  })

  return app
}
