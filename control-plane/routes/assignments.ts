import { Hono, type Context } from 'hono'
import type { ControlPlaneDeps } from '../deps.ts'
import { json } from '../http/body.ts'
import type { AppEnv } from '../http/env.ts'
import { AssignmentPut, ResolveRequest } from '../schemas.ts'
import { AssignmentsService } from '../services/assignments.ts'
import { PlacementService } from '../services/placement.ts'

/** `/assignments`: resolving (origin, admin) and explicit settings (admin; the origin for users). */
export function assignmentRoutes(d: ControlPlaneDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>()

  app.post('/resolve', d.auth.only('admin', 'origin'), json(ResolveRequest), async (c) => {
    const resolution = await d.placement.resolve(PlacementService.checked(c.req.valid('json')))
    d.prometheus.assignment(resolution.rule)
    return c.json(resolution)
  })

  app.get('/', d.auth.only('admin'), (c) => c.json({ assignments: d.assignments.list() }))

  // a team subject holds a slash (org/team): the rest of the path is the subject
  const target = (c: Context<AppEnv>) => {
    const kind = AssignmentsService.kind(c.req.param('kind') ?? '')
    const subject = AssignmentsService.subject(kind, c.req.param('subject') ?? '')
    if (kind === 'user') d.auth.allow(c, 'admin', 'origin')
    else d.auth.allow(c, 'admin')
    return { kind, subject }
  }
  // who may set an assignment is decided before its body is read
  const allowTarget = async (c: Context<AppEnv>, next: () => Promise<void>) => {
    target(c)
    await next()
  }

  app.get('/:kind/:subject{.+}', (c) => {
    const { kind, subject } = target(c)
    return c.json(d.assignments.get(kind, subject))
  })

  app.put('/:kind/:subject{.+}', allowTarget, json(AssignmentPut), (c) => {
    const { kind, subject } = target(c)
    return c.json(d.assignments.put(kind, subject, c.req.valid('json')))
  })

  app.delete('/:kind/:subject{.+}', (c) => {
    const { kind, subject } = target(c)
    d.assignments.delete(kind, subject)
    return c.body(null, 204)
  })

  return app
}
