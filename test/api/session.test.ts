import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiClient, createUser, type ApiClient } from '../helpers/api.ts'
import type { Credentials } from '../helpers/auth.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'

let origin: Awaited<ReturnType<typeof startOrigin>>
let api: ApiClient
let alice: Credentials

beforeAll(async () => {
  origin = await startOrigin()
  api = apiClient(origin.url)
  alice = await createUser(api, TEST_ADMIN, 'alice', { fullName: 'Alice A', email: 'alice@example.com' })
})
afterAll(async () => {
  await origin?.close()
})

/** The `name=value` part of a Set-Cookie header, as a browser would send it back. */
function cookieOf(setCookie: string | null): string {
  return (setCookie ?? '').split(';')[0]!
}

describe('POST /api/v0/login', () => {
  it('sets an HttpOnly, SameSite=Strict session cookie (not Secure on http) and answers with the user', async () => {
    const res = await api.call('POST', '/login', undefined, { username: 'alice', password: alice.password })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({
      kind: 'user',
      name: 'alice',
      fullName: 'Alice A',
      email: 'alice@example.com',
      orgs: [],
      teams: [],
    })
    const setCookie = res.headers.get('set-cookie') ?? ''
    expect(setCookie).toMatch(/^wharf_session=[\w-]{20,};/)
    expect(setCookie).toContain('HttpOnly')
    expect(setCookie).toContain('SameSite=Strict')
    expect(setCookie).toContain('Path=/')
    expect(setCookie).not.toContain('Secure')
    expect(res.headers.get('cache-control')).toBe('no-store')

    const me = await api.call('GET', '/me', { cookie: cookieOf(setCookie) })
    expect(me.status).toBe(200)
    expect(me.body.name).toBe('alice')
  })

  it('marks the cookie Secure when the public URL is https', async () => {
    const tls = await startOrigin({ env: { ORIGIN_PUBLIC_URL: 'https://registry.example.com' } })
    try {
      const res = await apiClient(tls.url).call('POST', '/login', undefined, TEST_ADMIN)
      expect(res.status).toBe(200)
      expect(res.headers.get('set-cookie')).toContain('Secure')
    } finally {
      await tls.close()
    }
  })

  it('refuses a wrong password with 401 UNAUTHORIZED and records the failure', async () => {
    const res = await api.call('POST', '/login', undefined, { username: 'alice', password: 'not-her-password' })
    expect(res.status).toBe(401)
    expect(res.body.error.code).toBe('UNAUTHORIZED')
    expect(res.headers.get('set-cookie')).toBeNull()
    const events = await api.call('GET', '/events?action=login&actor=alice', TEST_ADMIN)
    expect(events.body.events[0]).toMatchObject({
      actor: 'alice',
      action: 'login',
      outcome: 'failure',
      detail: { reason: 'invalid_credentials' },
    })
    expect(events.body.events[0].address).toBe('127.0.0.1')
  })

  it('answers 400 for a body without username or password, and for one that is not JSON', async () => {
    expect((await api.call('POST', '/login', undefined, { username: 'alice' })).body.error).toMatchObject({
      code: 'BAD_REQUEST',
      message: 'password is required',
    })
    const notJson = await api.call('POST', '/login', undefined, 'username=alice', {
      'content-type': 'application/x-www-form-urlencoded',
    })
    expect(notJson.status).toBe(400)
    expect(notJson.body.error.code).toBe('BAD_REQUEST')
  })

  it('rate-limits repeated failures with 429 and Retry-After', async () => {
    await createUser(api, TEST_ADMIN, 'target')
    let last
    for (let i = 0; i < 11; i++)
      last = await api.call('POST', '/login', undefined, { username: 'target', password: `wrong-${i}` })
    expect(last!.status).toBe(429)
    expect(last!.body.error.code).toBe('TOO_MANY_REQUESTS')
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0)
  })

  it('does not give robots a web session', async () => {
    const r = await api.call('POST', '/namespaces/alice/robots', alice, {
      name: 'ci',
      permissions: [{ repository: 'alice/app', actions: ['pull'] }],
    })
    expect(r.status).toBe(201)
    const res = await api.call('POST', '/login', undefined, { username: r.body.name, password: r.body.secret })
    expect(res.status).toBe(403)
    expect(res.headers.get('set-cookie')).toBeNull()
  })
})

describe('POST /api/v0/logout', () => {
  it('ends the session: the cookie no longer authenticates', async () => {
    const login = await api.call('POST', '/login', undefined, alice)
    const cookie = cookieOf(login.headers.get('set-cookie'))
    expect((await api.call('GET', '/me', { cookie })).status).toBe(200)
    const out = await api.call('POST', '/logout', { cookie })
    expect(out.status).toBe(204)
    expect(out.headers.get('set-cookie')).toMatch(/^wharf_session=;.*Max-Age=0/)
    expect((await api.call('GET', '/me', { cookie })).status).toBe(401)
    const events = await api.call('GET', '/events?action=logout', TEST_ADMIN)
    expect(events.body.events[0]).toMatchObject({ actor: 'alice', target: 'alice' })
  })
})

describe('GET /api/v0/me', () => {
  it('is 401 for anonymous callers', async () => {
    const res = await api.call('GET', '/me')
    expect(res.status).toBe(401)
    expect(res.body.error.code).toBe('UNAUTHORIZED')
  })

  it('answers basic auth, and refuses registry tokens from /auth/token (they are for /v2/ only)', async () => {
    expect((await api.call('GET', '/me', alice)).body.name).toBe('alice')
    const token = await fetch(`${origin.url}/auth/token?service=${origin.host}`, {
      headers: { authorization: `Basic ${Buffer.from(`alice:${alice.password}`).toString('base64')}` },
    }).then((r) => r.json() as Promise<{ token: string }>)
    const res = await api.call('GET', '/me', { bearer: token.token })
    expect(res.status).toBe(401)
    expect(res.body.error.message).toMatch(/registry tokens .* are for \/v2\/ only/)
  })

  it('refuses bad credentials with 401 rather than treating the caller as anonymous', async () => {
    expect((await api.call('GET', '/me', { username: 'alice', password: 'wrong-one' })).status).toBe(401)
    expect((await api.call('GET', '/me', { bearer: 'not-a-token' })).status).toBe(401)
  })

  it('describes a robot with its namespace and permissions', async () => {
    const r = await api.call('POST', '/namespaces/alice/robots', alice, {
      name: 'me-bot',
      permissions: [{ repository: 'alice/*', actions: ['pull'] }],
    })
    const me = await api.call('GET', '/me', { username: r.body.name, password: r.body.secret })
    expect(me.status).toBe(200)
    expect(me.body).toEqual({
      kind: 'robot',
      name: 'robot$alice+me-bot',
      namespace: 'alice',
      permissions: [{ repository: 'alice/*', actions: ['pull'] }],
    })
  })
})
