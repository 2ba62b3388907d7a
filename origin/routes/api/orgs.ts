import { Hono } from 'hono'
import { flag, strict, text } from '../../../lib/validation.ts'
import type { ApiEnv } from '../../http/api-auth.ts'
import { caller, json, PAGE_QUERY, query } from './input.ts'
import type { ApiServices } from './services.ts'

const TEAM_FIELDS = {
  description: text(1000).optional(),
  ldapGroup: text(1000, 1).nullable().optional(),
}

/** Organization members, teams and team members: /orgs/:org/... */
export function orgRoutes({ orgs }: ApiServices) {
  const app = new Hono<ApiEnv>()

  app.get('/orgs/:org/members', query(PAGE_QUERY), (c) => {
    const { last, limit } = c.req.valid('query')
    const page = orgs.members(caller(c), c.req.param('org'), last, limit)
    return c.json({ members: page.items, next: page.next })
  })

  app.put('/orgs/:org/members/:user', json(strict({ isOwner: flag().default(false) })), (c) =>
    c.json(orgs.setMember(caller(c), c.req.param('org'), c.req.param('user'), c.req.valid('json').isOwner)),
  )

  app.delete('/orgs/:org/members/:user', (c) => {
    orgs.removeMember(caller(c), c.req.param('org'), c.req.param('user'))
    return c.body(null, 204)
  })

  app.get('/orgs/:org/teams', query(PAGE_QUERY), (c) => {
    const { last, limit } = c.req.valid('query')
    const page = orgs.teams(caller(c), c.req.param('org'), last, limit)
    return c.json({ teams: page.items, next: page.next })
  })

  app.post('/orgs/:org/teams', json(strict({ name: text(100, 1), ...TEAM_FIELDS })), (c) => {
    const { name, ...input } = c.req.valid('json')
    return c.json(orgs.createTeam(caller(c), c.req.param('org'), name, input), 201)
  })

  app.get('/orgs/:org/teams/:team', (c) => c.json(orgs.team(caller(c), c.req.param('org'), c.req.param('team'))))

  app.patch('/orgs/:org/teams/:team', json(strict(TEAM_FIELDS)), (c) =>
    c.json(orgs.updateTeam(caller(c), c.req.param('org'), c.req.param('team'), c.req.valid('json'))),
  )

  app.delete('/orgs/:org/teams/:team', (c) => {
    orgs.deleteTeam(caller(c), c.req.param('org'), c.req.param('team'))
    return c.body(null, 204)
  })

  app.get('/orgs/:org/teams/:team/members', query(PAGE_QUERY), (c) => {
    const { last, limit } = c.req.valid('query')
    const page = orgs.teamMembers(caller(c), c.req.param('org'), c.req.param('team'), last, limit)
    return c.json({ members: page.items, next: page.next })
  })

  app.put('/orgs/:org/teams/:team/members/:user', (c) => {
    orgs.addTeamMember(caller(c), c.req.param('org'), c.req.param('team'), c.req.param('user'))
    return c.body(null, 204)
  })

  app.delete('/orgs/:org/teams/:team/members/:user', (c) => {
    orgs.removeTeamMember(caller(c), c.req.param('org'), c.req.param('team'), c.req.param('user'))
    return c.body(null, 204)
  })

  return app
}
