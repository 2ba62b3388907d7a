import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiClient, createOrg, createRepo, createUser, type ApiClient } from '../helpers/api.ts'
import { getToken, type Credentials } from '../helpers/auth.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'

let origin: Awaited<ReturnType<typeof startOrigin>>
let api: ApiClient
let alice: Credentials
let bob: Credentials

beforeAll(async () => {
  origin = await startOrigin()
  api = apiClient(origin.url)
  alice = await createUser(api, TEST_ADMIN, 'alice', { email: 'alice@example.com' })
  bob = await createUser(api, TEST_ADMIN, 'bob', { email: 'bob@example.com' })
})
afterAll(async () => {
  await origin?.close()
})

describe('POST /api/v0/accounts', () => {
  it('lets an admin create a user who can then sign in; the given password is never echoed', async () => {
    const res = await api.call('POST', '/accounts', TEST_ADMIN, {
      name: 'carol',
      password: 'carol-secret-1',
      fullName: 'Carol C',
    })
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({
      name: 'carol',
      kind: 'user',
      fullName: 'Carol C',
      source: 'local',
      isAdmin: false,
      active: true,
    })
    expect(res.body).not.toHaveProperty('password')
    expect(new Date(res.body.createdAt).getTime()).toBeGreaterThan(0)
    expect((await api.call('GET', '/me', { username: 'carol', password: 'carol-secret-1' })).status).toBe(200)
  })

  it('generates a password when none is given and returns it once', async () => {
    const res = await api.call('POST', '/accounts', TEST_ADMIN, { name: 'dora' })
    expect(res.status).toBe(201)
    expect(res.body.password).toMatch(/^[\w-]{20,}$/)
    expect((await api.call('GET', '/me', { username: 'dora', password: res.body.password })).status).toBe(200)
    const again = await api.call('GET', '/accounts/dora', TEST_ADMIN)
    expect(again.body).not.toHaveProperty('password')
  })

  it('creates organizations, which have no password', async () => {
    const res = await api.call('POST', '/accounts', TEST_ADMIN, { name: 'acme', kind: 'org' })
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({ name: 'acme', kind: 'org' })
    expect(res.body).not.toHaveProperty('password')
    const withPassword = await api.call('POST', '/accounts', TEST_ADMIN, {
      name: 'acme2',
      kind: 'org',
      password: 'whatever-123',
    })
    expect(withPassword.status).toBe(400)
  })

  it('is for admins only: 401 anonymous, 403 for a plain user', async () => {
    const anon = await api.call('POST', '/accounts', undefined, { name: 'x1' })
    expect(anon.status).toBe(401)
    expect(anon.body.error.code).toBe('UNAUTHORIZED')
    const user = await api.call('POST', '/accounts', alice, { name: 'x2' })
    expect(user.status).toBe(403)
    expect(user.body.error.code).toBe('FORBIDDEN')
    expect((await api.call('GET', '/accounts/x2', TEST_ADMIN)).status).toBe(404)
  })

  it('refuses names outside the repository-name component grammar with 400', async () => {
    for (const name of ['Alice', 'a/b', '-lead', 'trail-', 'a..b', 'robot$x', '', 'x'.repeat(101)]) {
      const res = await api.call('POST', '/accounts', TEST_ADMIN, { name })
      expect(res.status, name).toBe(400)
      expect(res.body.error.code).toBe('BAD_REQUEST')
    }
    expect((await api.call('POST', '/accounts', TEST_ADMIN, { name: 'a.b_c__d-e--f' })).status).toBe(201)
  })

  it('refuses a name any user or organization already has (one namespace space) with 409', async () => {
    const asOrg = await api.call('POST', '/accounts', TEST_ADMIN, { name: 'alice', kind: 'org' })
    expect(asOrg.status).toBe(409)
    expect(asOrg.body.error.code).toBe('CONFLICT')
    expect((await api.call('POST', '/accounts', TEST_ADMIN, { name: 'acme' })).status).toBe(409)
  })

  it('refuses short passwords, bad emails, unknown fields and wrong types with a message naming the field', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ name: 'e1', password: 'short' }, /password/],
      [{ name: 'e2', email: 'not-an-email' }, /email address/],
      [{ name: 'e3', isadmin: true }, /unknown field isadmin/],
      [{ name: 'e4', isAdmin: 'yes' }, /isAdmin must be true or false/],
      [{ name: 'e5', kind: 'team' }, /kind must be one of user, org/],
      [{ fullName: 'no name' }, /name is required/],
    ]
    for (const [body, message] of cases) {
      const res = await api.call('POST', '/accounts', TEST_ADMIN, body)
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect(res.body.error.message).toMatch(message)
    }
  })

  it('records account.create without the password', async () => {
    const res = await api.call('GET', '/events?action=account.create&target=carol', TEST_ADMIN)
    expect(res.body.events).toHaveLength(1)
    expect(res.body.events[0]).toMatchObject({
      actor: 'admin',
      targetType: 'account',
      target: 'carol',
      detail: { kind: 'user', passwordGenerated: false },
    })
    expect(JSON.stringify(res.body)).not.toContain('carol-secret-1')
  })
})

describe('GET /api/v0/accounts', () => {
  it('pages through accounts in name order with limit and last', async () => {
    const seen: string[] = []
    let last = ''
    for (let i = 0; i < 20; i++) {
      const res = await api.call('GET', `/accounts?limit=2&last=${last}`, alice)
      expect(res.status).toBe(200)
      expect(res.body.accounts.length).toBeLessThanOrEqual(2)
      seen.push(...res.body.accounts.map((a: { name: string }) => a.name))
      if (res.body.next === null) break
      last = res.body.next
    }
    const all = await api.call('GET', '/accounts?limit=500', alice)
    expect(all.body.next).toBeNull()
    expect(seen).toEqual(all.body.accounts.map((a: { name: string }) => a.name))
    expect(seen).toEqual([...seen].sort())
    expect(seen).toEqual(expect.arrayContaining(['acme', 'admin', 'alice', 'bob']))
  })

  it('filters by kind', async () => {
    const orgs = await api.call('GET', '/accounts?kind=org', alice)
    expect(orgs.body.accounts.map((a: { name: string }) => a.name)).toEqual(['acme'])
    expect((await api.call('GET', '/accounts?kind=robot', alice)).status).toBe(400)
  })

  it('refuses a bad limit and caps a big one', async () => {
    for (const limit of ['0', '-1', 'ten', '1.5'])
      expect((await api.call('GET', `/accounts?limit=${limit}`, alice)).status, limit).toBe(400)
    expect((await api.call('GET', '/accounts?limit=100000', alice)).status).toBe(200)
  })

  it('shows email only to the account itself and to admins', async () => {
    expect((await api.call('GET', '/accounts/alice', alice)).body.email).toBe('alice@example.com')
    expect((await api.call('GET', '/accounts/alice', TEST_ADMIN)).body.email).toBe('alice@example.com')
    expect((await api.call('GET', '/accounts/alice', bob)).body).not.toHaveProperty('email')
    const list = await api.call('GET', '/accounts', bob)
    expect(list.body.accounts.find((a: { name: string }) => a.name === 'alice')).not.toHaveProperty('email')
  })

  it('is not for anonymous callers, and 404s unknown names', async () => {
    expect((await api.call('GET', '/accounts')).status).toBe(401)
    const missing = await api.call('GET', '/accounts/nobody', alice)
    expect(missing.status).toBe(404)
    expect(missing.body.error.code).toBe('NOT_FOUND')
  })
})

describe('PATCH /api/v0/accounts/:name', () => {
  it('lets users change their own name and email, but not other accounts', async () => {
    const own = await api.call('PATCH', '/accounts/bob', bob, { fullName: 'Bob B', email: 'bob@new.example' })
    expect(own.status).toBe(200)
    expect(own.body).toMatchObject({ fullName: 'Bob B', email: 'bob@new.example' })
    expect((await api.call('PATCH', '/accounts/alice', bob, { fullName: 'Mallory' })).status).toBe(403)
    expect((await api.call('GET', '/accounts/alice', alice)).body.fullName).toBe('')
  })

  it("needs the current password to change one's own", async () => {
    await createUser(api, TEST_ADMIN, 'pat')
    const creds = { username: 'pat', password: 'pat-password-1' }
    expect((await api.call('PATCH', '/accounts/pat', creds, { password: 'new-password-1' })).status).toBe(400)
    const wrong = await api.call('PATCH', '/accounts/pat', creds, {
      password: 'new-password-1',
      currentPassword: 'nope-nope',
    })
    expect(wrong.status).toBe(403)
    const ok = await api.call('PATCH', '/accounts/pat', creds, {
      password: 'new-password-1',
      currentPassword: creds.password,
    })
    expect(ok.status).toBe(200)
    expect((await api.call('GET', '/me', creds)).status).toBe(401)
    expect((await api.call('GET', '/me', { username: 'pat', password: 'new-password-1' })).status).toBe(200)
    const events = await api.call('GET', '/events?action=account.update&target=pat', TEST_ADMIN)
    expect(events.body.events[0].detail).toEqual({ changed: ['password'] })
    expect(JSON.stringify(events.body)).not.toContain('new-password-1')
  })

  it('lets an admin reset a password without the old one', async () => {
    await createUser(api, TEST_ADMIN, 'quinn')
    expect((await api.call('PATCH', '/accounts/quinn', TEST_ADMIN, { password: 'reset-by-admin' })).status).toBe(200)
    expect((await api.call('GET', '/me', { username: 'quinn', password: 'reset-by-admin' })).status).toBe(200)
  })

  it('keeps isAdmin and active for admins', async () => {
    const res = await api.call('PATCH', '/accounts/bob', bob, { isAdmin: true })
    expect(res.status).toBe(403)
    expect((await api.call('GET', '/accounts/bob', TEST_ADMIN)).body.isAdmin).toBe(false)
    const promote = await api.call('PATCH', '/accounts/quinn', TEST_ADMIN, { isAdmin: true })
    expect(promote.body.isAdmin).toBe(true)
    expect(
      (await api.call('POST', '/accounts', { username: 'quinn', password: 'reset-by-admin' }, { name: 'by-quinn' }))
        .status,
    ).toBe(201)
    expect((await api.call('PATCH', '/accounts/quinn', TEST_ADMIN, { isAdmin: false })).status).toBe(200)
  })

  it('lets org owners change their organization, and nobody else', async () => {
    await createOrg(api, TEST_ADMIN, 'patchorg', 'alice')
    expect((await api.call('PATCH', '/accounts/patchorg', alice, { fullName: 'Patch Org' })).body.fullName).toBe(
      'Patch Org',
    )
    expect((await api.call('PATCH', '/accounts/patchorg', bob, { fullName: 'Bob Org' })).status).toBe(403)
    expect((await api.call('PATCH', '/accounts/patchorg', alice, { active: false })).status).toBe(400)
  })
})

describe('deactivating a user', () => {
  it('revokes their tokens and sessions at once, and signs them out everywhere', async () => {
    const dan = await createUser(api, TEST_ADMIN, 'dan')
    const pat = await api.call('POST', '/accounts/dan/tokens', dan, { name: 'ci' })
    expect(pat.status).toBe(201)
    const login = await api.call('POST', '/login', undefined, dan)
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!
    expect((await api.call('GET', '/me', dan)).status).toBe(200)
    expect((await api.call('GET', '/me', { username: 'dan', password: pat.body.token })).status).toBe(200)

    const off = await api.call('PATCH', '/accounts/dan', TEST_ADMIN, { active: false })
    expect(off.status).toBe(200)
    expect(off.body.active).toBe(false)

    expect((await api.call('GET', '/me', dan)).status).toBe(401)
    expect((await api.call('GET', '/me', { bearer: pat.body.token })).status).toBe(401)
    expect((await api.call('GET', '/me', { cookie })).status).toBe(401)
    expect((await getToken(origin.url, [], { username: 'dan', password: pat.body.token })).status).toBe(401)
    const tokens = await api.call('GET', '/accounts/dan/tokens', TEST_ADMIN)
    expect(tokens.body.tokens[0]).toMatchObject({ active: false })
    expect(tokens.body.tokens[0].revokedAt).not.toBeNull()

    // reactivation restores the password, not the revoked token
    expect((await api.call('PATCH', '/accounts/dan', TEST_ADMIN, { active: true })).status).toBe(200)
    expect((await api.call('GET', '/me', dan)).status).toBe(200)
    expect((await api.call('GET', '/me', { bearer: pat.body.token })).status).toBe(401)
    const events = await api.call('GET', '/events?action=account.update&target=dan', TEST_ADMIN)
    expect(events.body.events.map((e: { detail: { active: boolean } }) => e.detail.active)).toEqual([true, false])
  })
})

describe('the last active administrator', () => {
  it('cannot be deleted, demoted or deactivated', async () => {
    const del = await api.call('DELETE', '/accounts/admin', TEST_ADMIN)
    expect(del.status).toBe(409)
    expect(del.body.error.code).toBe('CONFLICT')
    expect((await api.call('PATCH', '/accounts/admin', TEST_ADMIN, { isAdmin: false })).status).toBe(409)
    expect((await api.call('PATCH', '/accounts/admin', TEST_ADMIN, { active: false })).status).toBe(409)
    expect((await api.call('GET', '/me', TEST_ADMIN)).body.isAdmin).toBe(true)
  })

  it('can be deleted once another admin exists', async () => {
    const other = await createUser(api, TEST_ADMIN, 'admin2', { isAdmin: true })
    expect((await api.call('DELETE', '/accounts/admin2', other)).status).toBe(204)
    expect((await api.call('GET', '/accounts/admin2', TEST_ADMIN)).status).toBe(404)
  })
})

describe('DELETE /api/v0/accounts/:name', () => {
  it('is for admins only', async () => {
    expect((await api.call('DELETE', '/accounts/bob', alice)).status).toBe(403)
    expect((await api.call('DELETE', '/accounts/bob')).status).toBe(401)
    expect((await api.call('GET', '/accounts/bob', alice)).status).toBe(200)
  })

  it('refuses while the namespace still has repositories', async () => {
    const erin = await createUser(api, TEST_ADMIN, 'erin')
    await createRepo(api, erin, 'erin/app')
    const res = await api.call('DELETE', '/accounts/erin', TEST_ADMIN)
    expect(res.status).toBe(409)
    expect(res.body.error.message).toContain('repositories')
    expect((await api.call('DELETE', '/repositories/erin/app', erin)).status).toBe(204)
    expect((await api.call('DELETE', '/accounts/erin', TEST_ADMIN)).status).toBe(204)
  })

  it('removes the account with its credentials and grants; a new account of the same name inherits nothing', async () => {
    const fred = await createUser(api, TEST_ADMIN, 'fred')
    await createOrg(api, TEST_ADMIN, 'delorg')
    await createRepo(api, TEST_ADMIN, 'delorg/app')
    expect(
      (await api.call('PUT', '/repositories/delorg/app/_grants/users/fred', TEST_ADMIN, { role: 'write' })).status,
    ).toBe(200)
    const pat = await api.call('POST', '/accounts/fred/tokens', fred, { name: 't' })
    expect((await api.call('DELETE', '/accounts/fred', TEST_ADMIN)).status).toBe(204)
    expect((await api.call('GET', '/me', fred)).status).toBe(401)
    expect((await api.call('GET', '/me', { bearer: pat.body.token })).status).toBe(401)
    expect((await api.call('GET', '/repositories/delorg/app/_grants', TEST_ADMIN)).body.grants).toEqual([])
    const again = await createUser(api, TEST_ADMIN, 'fred')
    expect((await api.call('GET', '/repositories/delorg/app', again)).status).toBe(404)
    const events = await api.call('GET', '/events?action=account.delete&target=fred', TEST_ADMIN)
    expect(events.body.events).toHaveLength(1)
  })
})
