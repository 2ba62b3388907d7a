import { Hono } from 'hono'
import { flag, oneOf, strict, text } from '../../../lib/validation.ts'
import type { ApiEnv } from '../../http/api-auth.ts'
import { MAX_PASSWORD_LENGTH } from '../../services/accounts.ts'
import { caller, json, PAGE, query } from './input.ts'
import type { ApiServices } from './services.ts'

const KIND = oneOf(['user', 'org'])
const FULL_NAME = text(200).optional()
const EMAIL = text(254).optional()
const PASSWORD = text(MAX_PASSWORD_LENGTH).optional()

const CREATE = strict({
  name: text(100, 1),
  kind: KIND.default('user'),
  fullName: FULL_NAME,
  email: EMAIL,
  password: PASSWORD,
  isAdmin: flag().optional(),
})

const UPDATE = strict({
  fullName: FULL_NAME,
  email: EMAIL,
  password: PASSWORD,
  currentPassword: PASSWORD,
  isAdmin: flag().optional(),
  active: flag().optional(),
})

/** Users and organizations: /accounts. */
export function accountRoutes({ accounts }: ApiServices) {
  const app = new Hono<ApiEnv>()

  app.get('/accounts', query(strict({ ...PAGE, kind: KIND.optional() })), (c) => {
    const { last, limit, kind } = c.req.valid('query')
    const page = accounts.list(caller(c), kind, last, limit)
    return c.json({ accounts: page.items, next: page.next })
  })

  app.post('/accounts', json(CREATE), async (c) => {
    const { account, password } = await accounts.create(caller(c), c.req.valid('json'))
    // a generated password is in this response and nowhere else
    return c.json({ ...account, ...(password === undefined ? {} : { password }) }, 201)
  })

  app.get('/accounts/:name', (c) => c.json(accounts.get(caller(c), c.req.param('name'))))

  app.patch('/accounts/:name', json(UPDATE), async (c) =>
    c.json(await accounts.update(caller(c), c.req.param('name'), c.req.valid('json'))),
  )

  app.delete('/accounts/:name', (c) => {
    accounts.delete(caller(c), c.req.param('name'))
    return c.body(null, 204)
  })

  return app
}
