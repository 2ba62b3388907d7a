import { Hono } from 'hono'
import type { ApiEnv } from '../../http/api-auth.ts'
import { MAX_PASSWORD_LENGTH } from '../../services/accounts.ts'
import { caller, flag, oneOf, optional, paging, readJson, text } from './input.ts'
import type { ApiServices } from './services.ts'

const KINDS = ['user', 'org'] as const
const FULL_NAME = optional(text({ max: 200 }))
const EMAIL = optional(text({ max: 254 }))

/** Users and organizations: /accounts. */
export function accountRoutes({ accounts }: ApiServices) {
  const app = new Hono<ApiEnv>()

  app.get('/accounts', (c) => {
    const { last, limit } = paging(c)
    const kind = c.req.query('kind')
    const page = accounts.list(
      caller(c),
      kind === undefined ? undefined : oneOf(KINDS).parse(kind, 'kind'),
      last,
      limit,
    )
    return c.json({ accounts: page.items, next: page.next })
  })

  app.post('/accounts', async (c) => {
    const body = await readJson(c, {
      name: text({ min: 1, max: 100 }),
      kind: optional(oneOf(KINDS)),
      fullName: FULL_NAME,
      email: EMAIL,
      password: optional(text({ max: MAX_PASSWORD_LENGTH })),
      isAdmin: optional(flag()),
    })
    const { account, password } = await accounts.create(caller(c), { ...body, kind: body.kind ?? 'user' })
    // a generated password is in this response and nowhere else
    return c.json({ ...account, ...(password === undefined ? {} : { password }) }, 201)
  })

  app.get('/accounts/:name', (c) => c.json(accounts.get(caller(c), c.req.param('name'))))

  app.patch('/accounts/:name', async (c) => {
    const body = await readJson(c, {
      fullName: FULL_NAME,
      email: EMAIL,
      password: optional(text({ max: MAX_PASSWORD_LENGTH })),
      currentPassword: optional(text({ max: MAX_PASSWORD_LENGTH })),
      isAdmin: optional(flag()),
      active: optional(flag()),
    })
    return c.json(await accounts.update(caller(c), c.req.param('name'), body))
  })

  app.delete('/accounts/:name', (c) => {
    accounts.delete(caller(c), c.req.param('name'))
    return c.body(null, 204)
  })

  return app
}
