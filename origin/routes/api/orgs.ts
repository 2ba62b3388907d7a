import { Hono } from 'hono'
import type { ApiEnv } from '../../http/api-auth.ts'
import { caller, flag, nullable, optional, paging, readJson, text } from './input.ts'
import type { ApiServices } from './services.ts'

const TEAM_FIELDS = {
  description: optional(text({ max: 1000 })),
  ldapGroup: optional(nullable(text({ min: 1, max: 1000 }))),
}

/** Organization members, teams and team members: /orgs/:org/... */
export function orgRoutes({ orgs }: ApiServices) {
  const app = new Hono<ApiEnv>()

  app.get('/orgs/:org/members', (c) => {
    const { last, limit } = paging(c)
    const page = orgs.members(caller(c), c.req.param('org'), last, limit)
    return c.json({ members: page.items, next: page.next })
  })

  app.put('/orgs/:org/members/:user', async (c) => {
    const body = await readJson(c, { isOwner: optional(flag()) })
    return c.json(orgs.setMember(caller(c), c.req.param('org'), c.req.param('user'), body.isOwner ?? false))
  })

  app.delete('/orgs/:org/members/:user', (c) => {
    orgs.removeMember(caller(c), c.req.param('org'), c.req.param('user'))
    return c.body(null, 204)
  })

  app.get('/orgs/:org/teams', (c) => {
    const { last, limit } = paging(c)
    const page = orgs.teams(caller(c), c.req.param('org'), last, limit)
    return c.json({ teams: page.items, next: page.next })
  })

  app.post('/orgs/:org/teams', async (c) => {
    const { name, ...input } = await readJson(c, { name: text({ min: 1, max: 100 }), ...TEAM_FIELDS })
    return c.json(orgs.createTeam(caller(c), c.req.param('org'), name, input), 201)
  })

  app.get('/orgs/:org/teams/:team', (c) => c.json(orgs.team(caller(c), c.req.param('org'), c.req.param('team'))))

  app.patch('/orgs/:org/teams/:team', async (c) => {
    const input = await readJson(c, TEAM_FIELDS)
    return c.json(orgs.updateTeam(caller(c), c.req.param('org'), c.req.param('team'), input))
  })

  app.delete('/orgs/:org/teams/:team', (c) => {
    orgs.deleteTeam(caller(c), c.req.param('org'), c.req.param('team'))
    return c.body(null, 204)
  })

  app.get('/orgs/:org/teams/:team/members', (c) => {
    const { last, limit } = paging(c)
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
