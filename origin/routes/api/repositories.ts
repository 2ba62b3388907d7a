import { Hono } from 'hono'
import type { Context } from 'hono'
import { z } from 'zod'
import { oneOf, strict, text } from '../../../lib/validation.ts'
import type { ApiEnv } from '../../http/api-auth.ts'
import { assertComponent } from '../../services/common.ts'
import { ROLE_NAMES, type GrantView, type ScopeType, type SubjectType } from '../../services/grants.ts'
import type { Role } from '../../storage/access-store.ts'
import { eventFilter, EVENTS_QUERY } from './events.ts'
import { caller, json, PAGE, PAGE_QUERY, query } from './input.ts'
import type { ApiServices } from './services.ts'

const VISIBILITY = oneOf(['private', 'public'])
const DESCRIPTION = text(10_000).optional()
const LONG_DESCRIPTION = text(100_000).optional()
/**
 * A repository name in a path: components that start with a lowercase letter or digit, so that `_grants`,
 * `teamAccess` and whatever else follows a name is never taken for a part of it.
 */
const NAME = ':name{[a-z0-9][a-z0-9._-]*(?:/[a-z0-9][a-z0-9._-]*)*}'
/** `?offset=`: how many items to skip (a whole number, default 0). */
const OFFSET = z
  .string({ error: 'must be a whole number' })
  .regex(/^\d{1,9}$/, { error: 'must be a whole number' })
  .transform(Number)
  .default(0)
const SUBJECTS: Record<string, SubjectType> = { users: 'user', teams: 'team' }
const ROLE = strict({ role: oneOf(Object.keys(ROLE_NAMES) as [string, ...string[]]) })
/** DTR's access levels, as its teamAccess endpoints take and show them. */
const ACCESS_LEVELS = { 'read-only': 'read', 'read-write': 'write', admin: 'admin' } as const satisfies Record<
  string,
  Role
>
const DTR_LEVEL: Record<Role, keyof typeof ACCESS_LEVELS> = { read: 'read-only', write: 'read-write', admin: 'admin' }
const ACCESS_LEVEL = strict({ accessLevel: oneOf(['read-only', 'read-write', 'admin']) })
type WithPage = Context<ApiEnv, string, { out: { query: z.output<typeof PAGE_QUERY> } }>
type WithBody<T extends z.ZodType> = Context<ApiEnv, string, { out: { json: z.output<T> } }>

/**
 * Repositories and grants. A repository's name may have several components, so its sub-resources sit behind
 * `/_grants` and `/teamAccess`, which no repository name can contain (components are lowercase and start with a
 * letter or digit).
 *
 *   /repositories[/<name>]                              list, create, get, change, delete
 *   /repositories/<name>/_tags                          tags with platforms, sizes, pushes and pulls
 *   /repositories/<name>/_manifests/<tag|digest>        an image: layers against Dockerfile lines, config, referrers
 *   /repositories/<name>/_events                        what happened to it (filters as /events)
 *   /repositories/<name>/_grants[/users|teams/<who>]    roles on one repository
 *   /namespaces/<org>/grants[/users|teams/<who>]        roles on every repository of an organization
 *   /repositories/<name>/teamAccess/<team>              DTR's spelling of a team's grant on a repository
 *   /repositoryNamespaces/<org>/teamAccess/<team>       DTR's spelling of a team's grant on a namespace
 */
export function repositoryRoutes({ repositories, images, grants, audit }: ApiServices) {
  const app = new Hono<ApiEnv>()

  app.get('/repositories', query(strict({ ...PAGE, namespace: text(255).optional() })), (c) => {
    const { last, limit, namespace } = c.req.valid('query')
    const page = repositories.list(
      caller(c),
      namespace === undefined ? undefined : assertComponent(namespace, 'namespace'),
      last,
      limit,
    )
    return c.json({ repositories: page.items, next: page.next })
  })

  app.post(
    '/repositories',
    json(
      strict({
        name: text(255, 1),
        visibility: VISIBILITY.optional(),
        description: DESCRIPTION,
        longDescription: LONG_DESCRIPTION,
      }),
    ),
    (c) => c.json(repositories.create(caller(c), c.req.valid('json')), 201),
  )

  const listGrants = (scopeType: ScopeType, scope: (c: Context<ApiEnv>) => string) => (c: WithPage) => {
    const { last, limit } = c.req.valid('query')
    const page = grants.list(caller(c), scopeType, scope(c), last, limit)
    return c.json({ grants: page.items, next: page.next })
  }
  const setGrant = (scopeType: ScopeType, scope: (c: Context<ApiEnv>) => string) => (c: WithBody<typeof ROLE>) => {
    const { role } = c.req.valid('json')
    const subject = SUBJECTS[c.req.param('kind') ?? '']!
    return c.json(grants.set(caller(c), scopeType, scope(c), subject, c.req.param('subject') ?? '', ROLE_NAMES[role]!))
  }
  const deleteGrant = (scopeType: ScopeType, scope: (c: Context<ApiEnv>) => string) => (c: Context<ApiEnv>) => {
    grants.delete(caller(c), scopeType, scope(c), SUBJECTS[c.req.param('kind') ?? '']!, c.req.param('subject') ?? '')
    return c.body(null, 204)
  }
  const repo = (c: Context<ApiEnv>) => c.req.param('name') ?? ''
  const ns = (c: Context<ApiEnv>) => c.req.param('namespace') ?? ''

  // registered before the plain /repositories/<name> routes, whose pattern would also match these paths
  app.get(`/repositories/${NAME}/_tags`, query(strict({ limit: PAGE.limit, offset: OFFSET })), async (c) => {
    const { limit, offset } = c.req.valid('query')
    const page = await images.tags(caller(c), repo(c), offset, limit)
    return c.json({ tags: page.items, total: page.total })
  })
  app.get(`/repositories/${NAME}/_events`, query(EVENTS_QUERY), (c) => {
    const page = audit.repository(caller(c), repo(c), eventFilter(c.req.valid('query')))
    return c.json({ events: page.items, next: page.next })
  })
  app.get(`/repositories/${NAME}/_manifests/:reference`, async (c) =>
    c.json(await images.image(caller(c), repo(c), c.req.param('reference'))),
  )
  app.get(`/repositories/${NAME}/_grants`, query(PAGE_QUERY), listGrants('repository', repo))
  app.put(`/repositories/${NAME}/_grants/:kind{users|teams}/:subject`, json(ROLE), setGrant('repository', repo))
  app.delete(`/repositories/${NAME}/_grants/:kind{users|teams}/:subject`, deleteGrant('repository', repo))
  app.get('/namespaces/:namespace/grants', query(PAGE_QUERY), listGrants('namespace', ns))
  app.put('/namespaces/:namespace/grants/:kind{users|teams}/:subject', json(ROLE), setGrant('namespace', ns))
  app.delete('/namespaces/:namespace/grants/:kind{users|teams}/:subject', deleteGrant('namespace', ns))

  // DTR's teamAccess: the same grants, a team's only, with DTR's access levels
  const teamAccess = (g: GrantView, scopeType: ScopeType) => ({
    accessLevel: DTR_LEVEL[g.role],
    team: { name: g.subject, orgName: g.scope.split('/')[0] },
    ...(scopeType === 'repository'
      ? { repository: { namespace: g.scope.split('/')[0], name: g.scope.split('/').slice(1).join('/') } }
      : { namespace: { name: g.scope } }),
  })
  const putTeamAccess =
    (scopeType: ScopeType, scope: (c: Context<ApiEnv>) => string) => (c: WithBody<typeof ACCESS_LEVEL>) => {
      const role = ACCESS_LEVELS[c.req.valid('json').accessLevel]
      const g = grants.set(caller(c), scopeType, scope(c), 'team', c.req.param('team') ?? '', role)
      return c.json(teamAccess(g, scopeType))
    }
  app.put(`/repositories/${NAME}/teamAccess/:team`, json(ACCESS_LEVEL), putTeamAccess('repository', repo))
  app.delete(`/repositories/${NAME}/teamAccess/:team`, (c) => {
    grants.delete(caller(c), 'repository', repo(c), 'team', c.req.param('team'))
    return c.body(null, 204)
  })
  app.get('/repositoryNamespaces/:namespace/teamAccess/:team', (c) =>
    c.json(teamAccess(grants.get(caller(c), 'namespace', ns(c), 'team', c.req.param('team')), 'namespace')),
  )
  app.put('/repositoryNamespaces/:namespace/teamAccess/:team', json(ACCESS_LEVEL), putTeamAccess('namespace', ns))
  app.delete('/repositoryNamespaces/:namespace/teamAccess/:team', (c) => {
    grants.delete(caller(c), 'namespace', ns(c), 'team', c.req.param('team'))
    return c.body(null, 204)
  })

  app.get(`/repositories/${NAME}`, (c) => c.json(repositories.get(caller(c), c.req.param('name'))))

  app.patch(
    `/repositories/${NAME}`,
    json(strict({ visibility: VISIBILITY.optional(), description: DESCRIPTION, longDescription: LONG_DESCRIPTION })),
    (c) => c.json(repositories.update(caller(c), c.req.param('name'), c.req.valid('json'))),
  )

  app.delete(`/repositories/${NAME}`, (c) => {
    repositories.delete(caller(c), c.req.param('name'))
    return c.body(null, 204)
  })

  return app
}
