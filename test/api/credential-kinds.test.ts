/**
 * Each credential kind is worth exactly its purpose on /api/v0: a registry token from /auth/token is refused
 * outright (caches see and forward those), a personal access token works for scripts but cannot mint credentials,
 * and minting (tokens, robots, accounts, admin flags, others' passwords, signing keys) needs a password given in
 * the request or a web session, which only a password starts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiClient, createUser, type ApiClient } from '../helpers/api.ts'
import { getToken, tokenFor, type Credentials } from '../helpers/auth.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'

let origin: Awaited<ReturnType<typeof startOrigin>>
let api: ApiClient
let alice: Credentials
let alicePat: string
let adminPat: string

beforeAll(async () => {
  origin = await startOrigin()
  api = apiClient(origin.url)
  alice = await createUser(api, TEST_ADMIN, 'alice')
  alicePat = (await api.call('POST', '/accounts/alice/tokens', alice, { name: 'script' })).body.token
  adminPat = (await api.call('POST', `/accounts/${TEST_ADMIN.username}/tokens`, TEST_ADMIN, { name: 'script' })).body.token
  expect(alicePat).toMatch(/^wharf_pat_/)
  expect(adminPat).toMatch(/^wharf_pat_/)
})
afterAll(async () => {
  await origin?.close()
})

const tokenNames = async (user: string) =>
  ((await api.call('GET', `/accounts/${user}/tokens`, TEST_ADMIN)).body.tokens as { name: string }[]).map((t) => t.name)

describe('registry tokens on /api/v0', () => {
  it('an empty-scope token is no API credential: it reads nothing and mints no personal access token', async () => {
    const token = await tokenFor(origin.url, [], alice)
    const me = await api.call('GET', '/me', { bearer: token })
    expect(me.status).toBe(401)
    expect(me.body.error.code).toBe('UNAUTHORIZED')
    const made = await api.call('POST', '/accounts/alice/tokens', { bearer: token }, { name: 'from-registry-token' })
    expect(made.status).toBe(401)
    expect(await tokenNames('alice')).not.toContain('from-registry-token')
  })

  it("an admin's pull-only token cannot create an admin account", async () => {
    const token = await tokenFor(origin.url, ['repository:admin/app:pull'], TEST_ADMIN)
    const res = await api.call('POST', '/accounts', { bearer: token }, { name: 'mallory', password: 'mallory-password-1', isAdmin: true })
    expect(res.status).toBe(401)
    expect((await api.call('GET', '/accounts/mallory', TEST_ADMIN)).status).toBe(404)
  })
})

describe('personal access tokens', () => {
  it('work for scripts, as a bearer token and as the basic-auth password', async () => {
    expect((await api.call('GET', '/me', { bearer: alicePat })).body.name).toBe('alice')
    expect((await api.call('GET', '/me', { username: 'alice', password: alicePat })).body.name).toBe('alice')
    const repo = await api.call('POST', '/repositories', { bearer: alicePat }, { name: 'alice/by-script', visibility: 'private' })
    expect(repo.status).toBe(201)
  })

  it('cannot mint credentials: no new token, robot, account, admin flag, password or signing key', async () => {
    const bob = await createUser(api, TEST_ADMIN, 'bob')
    const attempts: [string, string, Credentials | { bearer: string }, unknown][] = [
      ['POST', '/accounts/alice/tokens', { bearer: alicePat }, { name: 'successor' }],
      ['POST', '/accounts/alice/tokens', { username: 'alice', password: alicePat }, { name: 'successor' }],
      ['POST', '/namespaces/alice/robots', { bearer: alicePat }, { name: 'ci', permissions: [] }],
      ['POST', '/accounts', { bearer: adminPat }, { name: 'eve', password: 'eve-password-12' }],
      ['PATCH', '/accounts/bob', { bearer: adminPat }, { isAdmin: true }],
      ['PATCH', '/accounts/bob', { bearer: adminPat }, { password: 'taken-over-password' }],
      ['POST', '/meta/keys/rotate', { bearer: adminPat }, undefined],
    ]
    for (const [method, path, auth, body] of attempts) {
      const res = await api.call(method, path, auth, body)
      expect(res.status, `${method} ${path}`).toBe(403)
      expect(res.body.error.code, `${method} ${path}`).toBe('PASSWORD_REQUIRED')
    }
    expect(await tokenNames('alice')).not.toContain('successor')
    expect((await api.call('GET', '/namespaces/alice/robots/ci', alice)).status).toBe(404)
    expect((await api.call('GET', '/accounts/eve', TEST_ADMIN)).status).toBe(404)
    expect((await api.call('GET', '/accounts/bob', TEST_ADMIN)).body.isAdmin).toBe(false)
    expect((await api.call('GET', '/me', bob)).status).toBe(200)
    // what a token may still do to an existing account: change its profile
    expect((await api.call('PATCH', '/accounts/bob', { bearer: adminPat }, { fullName: 'Bob B' })).status).toBe(200)
  })

  it('do not mint a refresh token at docker login: docker keeps the token itself, so revoking it ends the login', async () => {
    const byToken = await getToken(origin.url, [], { username: 'alice', password: alicePat }, { offline_token: 'true', client_id: 'docker' })
    expect(byToken.status).toBe(200)
    expect(byToken.body.refresh_token).toBeUndefined()
    const byPassword = await getToken(origin.url, [], alice, { offline_token: 'true', client_id: 'docker' })
    expect(byPassword.body.refresh_token).toMatch(/^wharf_rt_/)
  })

  it('do not start a web session', async () => {
    const res = await api.call('POST', '/login', undefined, { username: 'alice', password: alicePat })
    expect(res.status).toBe(403)
    expect(res.headers.get('set-cookie')).toBeNull()
  })
})

describe('a password or a session mints', () => {
  it('basic auth with the password creates a token', async () => {
    expect((await api.call('POST', '/accounts/alice/tokens', alice, { name: 'by-password' })).status).toBe(201)
  })

  it('a web session started with the password creates a token and a robot', async () => {
    const login = await api.call('POST', '/login', undefined, alice)
    expect(login.status).toBe(200)
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!
    expect((await api.call('POST', '/accounts/alice/tokens', { cookie }, { name: 'by-session' })).status).toBe(201)
    const robot = await api.call('POST', '/namespaces/alice/robots', { cookie }, { name: 'deploy', permissions: [{ repository: 'alice/app', actions: ['pull'] }] })
    expect(robot.status).toBe(201)
    expect(await tokenNames('alice')).toEqual(expect.arrayContaining(['by-password', 'by-session']))
  })
})
