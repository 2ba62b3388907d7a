import { Hono, type Context } from 'hono'
import type { ControlPlaneDeps } from '../deps.ts'
import { jsonBody } from '../http/body.ts'
import type { AppEnv } from '../http/env.ts'
import { AssignmentsService } from '../services/assignments.ts'
import { PlacementService } from '../services/placement.ts'

/** `/assignments`: resolving (origin, admin) and explicit settings (admin; the origin for users). */
export function assignmentRoutes(d: ControlPlaneDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>()

  app.post('/resolve', async (c) => {
    d.auth.allow(c, 'admin', 'origin')
    return c.json(await d.placement.resolve(PlacementService.parse(await jsonBody(c))))
  })

  app.get('/', (c) => {
    d.auth.allow(c, 'admin')
    return c.json({ assignments: d.assignments.list() })
  })

  // a team subject holds a slash (org/team): the rest of the path is the subject
  const target = (c: Context<AppEnv>) => {
    const kind = AssignmentsService.kind(c.req.param('kind') ?? '')
    const subject = AssignmentsService.subject(kind, c.req.param('subject') ?? '')
    if (kind === 'user') d.auth.allow(c, 'admin', 'origin')
    else d.auth.allow(c, 'admin')
    return { kind, subject }
  }

  app.get('/:kind/:subject{.+}', (c) => {
    const { kind, subject } = target(c)
    return c.json(d.assignments.get(kind, subject))
  })

  app.put('/:kind/:subject{.+}', async (c) => {
    const { kind, subject } = target(c)
    return c.json(d.assignments.put(kind, subject, await jsonBody(c)))
  })

  app.delete('/:kind/:subject{.+}', (c) => {
    const { kind, subject } = target(c)
    d.assignments.delete(kind, subject)
    return c.body(null, 204)
  })

  return app
}
