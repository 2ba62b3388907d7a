import { Hono } from 'hono'
import type { Context } from 'hono'
import type { ApiEnv } from '../../http/api-auth.ts'
import { assertComponent } from '../../services/common.ts'
import { ROLE_NAMES, type ScopeType, type SubjectType } from '../../services/grants.ts'
import { caller, oneOf, optional, paging, readJson, text } from './input.ts'
import type { ApiServices } from './services.ts'

const VISIBILITY = oneOf(['private', 'public'] as const)
const DESCRIPTION = optional(text({ max: 10_000 }))
const SUBJECTS: Record<string, SubjectType> = { users: 'user', teams: 'team' }

/**
 * Repositories and grants. A repository's name may have several components, so its sub-resources sit behind
 * `/_grants`, which no repository name can contain (components start with a letter or digit).
 *
 *   /repositories[/<name>]                              list, create, get, change, delete
 *   /repositories/<name>/_grants[/users|teams/<who>]    roles on one repository
 *   /namespaces/<org>/grants[/users|teams/<who>]        roles on every repository of an organization
 */
export function repositoryRoutes({ repositories, grants }: ApiServices) {
  const app = new Hono<ApiEnv>()

  app.get('/repositories', (c) => {
    const { last, limit } = paging(c)
    const namespace = c.req.query('namespace')
    const page = repositories.list(
      caller(c),
      namespace === undefined ? undefined : assertComponent(namespace, 'namespace'),
      last,
      limit,
    )
    return c.json({ repositories: page.items, next: page.next })
  })

  app.post('/repositories', async (c) => {
    const body = await readJson(c, {
      name: text({ min: 1, max: 255 }),
      visibility: optional(VISIBILITY),
      description: DESCRIPTION,
    })
    return c.json(repositories.create(caller(c), body), 201)
  })

  const listGrants = (scopeType: ScopeType, scope: (c: Context<ApiEnv>) => string) => (c: Context<ApiEnv>) => {
    const { last, limit } = paging(c)
    const page = grants.list(caller(c), scopeType, scope(c), last, limit)
    return c.json({ grants: page.items, next: page.next })
  }
  const setGrant = (scopeType: ScopeType, scope: (c: Context<ApiEnv>) => string) => async (c: Context<ApiEnv>) => {
    const { role } = await readJson(c, { role: oneOf(Object.keys(ROLE_NAMES)) })
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
  app.get('/repositories/:name{.+}/_grants', listGrants('repository', repo))
  app.put('/repositories/:name{.+}/_grants/:kind{users|teams}/:subject', setGrant('repository', repo))
  app.delete('/repositories/:name{.+}/_grants/:kind{users|teams}/:subject', deleteGrant('repository', repo))
  app.get('/namespaces/:namespace/grants', listGrants('namespace', ns))
  app.put('/namespaces/:namespace/grants/:kind{users|teams}/:subject', setGrant('namespace', ns))
  app.delete('/namespaces/:namespace/grants/:kind{users|teams}/:subject', deleteGrant('namespace', ns))

  app.get('/repositories/:name{.+}', (c) => c.json(repositories.get(caller(c), c.req.param('name'))))

  app.patch('/repositories/:name{.+}', async (c) => {
    const body = await readJson(c, { visibility: optional(VISIBILITY), description: DESCRIPTION })
    return c.json(repositories.update(caller(c), c.req.param('name'), body))
  })

  app.delete('/repositories/:name{.+}', (c) => {
    repositories.delete(caller(c), c.req.param('name'))
    return c.body(null, 204)
  })

  return app
}
