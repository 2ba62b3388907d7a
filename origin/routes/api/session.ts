import { Hono } from 'hono'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import type { OriginConfig } from '../../config.ts'
import { SESSION_COOKIE, type ApiEnv } from '../../http/api-auth.ts'
import { clientAddress } from '../../http/client-address.ts'
import { strict, text } from '../../../lib/validation.ts'
import { caller, json } from './input.ts'
import type { ApiServices } from './services.ts'

/** Web sign-in: POST /login sets the session cookie, POST /logout ends it, GET /me says who is calling. */
export function sessionRoutes({ sessions, accounts }: ApiServices, config: Readonly<OriginConfig>) {
  const app = new Hono<ApiEnv>()
  const cookie = {
    path: '/',
    httpOnly: true,
    sameSite: 'Strict',
    secure: config.publicUrl.protocol === 'https:',
  } as const

  app.post('/login', json(strict({ username: text(200, 1), password: text(1024, 1) })), async (c) => {
    const { username, password } = c.req.valid('json')
    const session = await sessions.start(username, password, clientAddress(c))
    setCookie(c, SESSION_COOKIE, session.cookie, { ...cookie, maxAge: Math.floor(config.sessionTtlMs / 1000) })
    c.set('principal', session.user)
    c.set('via', 'session')
    return c.json(accounts.me(caller(c)))
  })

  app.post('/logout', (c) => {
    sessions.end(caller(c), getCookie(c, SESSION_COOKIE))
    deleteCookie(c, SESSION_COOKIE, cookie)
    return c.body(null, 204)
  })

  app.get('/me', (c) => c.json(accounts.me(caller(c))))

  return app
}
