import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiClient, createUser, type ApiClient } from '../helpers/api.ts'
import { getToken, type Credentials } from '../helpers/auth.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'

let origin: Awaited<ReturnType<typeof startOrigin>>
let api: ApiClient
let alice: Credentials
let bob: Credentials

beforeAll(async () => {
  origin = await startOrigin()
  api = apiClient(origin.url)
  alice = await createUser(api, TEST_ADMIN, 'alice')
  bob = await createUser(api, TEST_ADMIN, 'bob')
})
afterAll(async () => {
  await origin?.close()
})

describe('POST /api/v0/accounts/:name/tokens', () => {
  it('returns the token once; listings show its metadata only', async () => {
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString()
    const res = await api.call('POST', '/accounts/alice/tokens', alice, { name: 'laptop', expiresAt })
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({ name: 'laptop', expiresAt, lastUsedAt: null, revokedAt: null, active: true })
    expect(res.body.token).toMatch(/^wharf_pat_[0-9a-f]{32}_[\w-]{43}$/)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const list = await api.call('GET', '/accounts/alice/tokens', alice)
    expect(list.body.tokens).toHaveLength(1)
    expect(list.body.tokens[0].id).toBe(res.body.id)
    expect(JSON.stringify(list.body)).not.toContain(res.body.token)
    expect(list.body.tokens[0]).not.toHaveProperty('token')
  })

  it('works as the password in docker login (/auth/token), as basic auth and as a bearer token, and tracks last use', async () => {
    const { body } = await api.call('POST', '/accounts/alice/tokens', alice, { name: 'ci' })
    const login = await getToken(origin.url, ['repository:alice/app:pull,push'], {
      username: 'alice',
      password: body.token,
    })
    expect(login.status).toBe(200)
    expect((await api.call('GET', '/me', { username: 'alice', password: body.token })).body.name).toBe('alice')
    expect((await api.call('GET', '/me', { bearer: body.token })).body.name).toBe('alice')
    expect((await api.call('GET', '/me', { username: 'bob', password: body.token })).status).toBe(401)
    const list = await api.call('GET', '/accounts/alice/tokens', alice)
    const used = list.body.tokens.find((t: { id: string }) => t.id === body.id)
    expect(Date.now() - new Date(used.lastUsedAt).getTime()).toBeLessThan(60_000)
  })

  it('accepts epoch milliseconds for expiresAt and refuses times in the past', async () => {
    const at = Date.now() + 3_600_000
    const ok = await api.call('POST', '/accounts/alice/tokens', alice, { name: 'ms', expiresAt: at })
    expect(ok.body.expiresAt).toBe(new Date(at).toISOString())
    const past = await api.call('POST', '/accounts/alice/tokens', alice, {
      name: 'old',
      expiresAt: '2001-01-01T00:00:00Z',
    })
    expect(past.status).toBe(400)
    expect(past.body.error.message).toMatch(/future/)
    expect((await api.call('POST', '/accounts/alice/tokens', alice, { name: 'x', expiresAt: 'tomorrow' })).status).toBe(
      400,
    )
    expect((await api.call('POST', '/accounts/alice/tokens', alice, { name: '' })).status).toBe(400)
  })

  it('stops working once expired', async () => {
    const { body } = await api.call('POST', '/accounts/alice/tokens', alice, {
      name: 'brief',
      expiresAt: Date.now() + 1_000,
    })
    expect((await api.call('GET', '/me', { bearer: body.token })).status).toBe(200)
    await new Promise((r) => setTimeout(r, 1_100))
    expect((await api.call('GET', '/me', { bearer: body.token })).status).toBe(401)
    const list = await api.call('GET', '/accounts/alice/tokens', alice)
    expect(list.body.tokens.find((t: { id: string }) => t.id === body.id).active).toBe(false)
  })

  it('is refused for another user (403) and for anonymous callers (401)', async () => {
    expect((await api.call('POST', '/accounts/alice/tokens', bob, { name: 'evil' })).status).toBe(403)
    expect((await api.call('GET', '/accounts/alice/tokens', bob)).status).toBe(403)
    expect((await api.call('GET', '/accounts/alice/tokens')).status).toBe(401)
    expect((await api.call('GET', '/accounts/nobody/tokens', TEST_ADMIN)).status).toBe(404)
  })

  it("lets admins list, create and revoke anyone's tokens", async () => {
    const made = await api.call('POST', '/accounts/bob/tokens', TEST_ADMIN, { name: 'by-admin' })
    expect(made.status).toBe(201)
    expect((await api.call('GET', '/me', { bearer: made.body.token })).body.name).toBe('bob')
    expect((await api.call('GET', '/accounts/bob/tokens', TEST_ADMIN)).body.tokens).toHaveLength(1)
    expect((await api.call('DELETE', `/accounts/bob/tokens/${made.body.id}`, TEST_ADMIN)).status).toBe(204)
    expect((await api.call('GET', '/me', { bearer: made.body.token })).status).toBe(401)
  })
})

describe('DELETE /api/v0/accounts/:name/tokens/:id', () => {
  it('revokes the token at once and records it', async () => {
    const { body } = await api.call('POST', '/accounts/bob/tokens', bob, { name: 'rotate-me' })
    expect((await api.call('DELETE', `/accounts/bob/tokens/${body.id}`, alice)).status).toBe(403)
    expect((await api.call('GET', '/me', { bearer: body.token })).status).toBe(200)
    expect((await api.call('DELETE', `/accounts/bob/tokens/${body.id}`, bob)).status).toBe(204)
    expect((await api.call('GET', '/me', { bearer: body.token })).status).toBe(401)
    expect((await getToken(origin.url, [], { username: 'bob', password: body.token })).status).toBe(401)
    const again = await api.call('DELETE', `/accounts/bob/tokens/${body.id}`, bob)
    expect(again.status).toBe(409)
    const listed = (await api.call('GET', '/accounts/bob/tokens', bob)).body.tokens.find(
      (t: { id: string }) => t.id === body.id,
    )
    expect(listed).toMatchObject({ active: false })
    expect(listed.revokedAt).not.toBeNull()
    const events = await api.call('GET', '/events?actor=bob&targetType=token', TEST_ADMIN)
    expect(events.body.events.map((e: { action: string }) => e.action)).toEqual(['token.revoke', 'token.create'])
    expect(events.body.events[0].detail).toEqual({ id: body.id, name: 'rotate-me' })
  })

  it('404s a token of another user, even for an admin naming the wrong user', async () => {
    const { body } = await api.call('POST', '/accounts/alice/tokens', alice, { name: 'mine' })
    expect((await api.call('DELETE', `/accounts/bob/tokens/${body.id}`, TEST_ADMIN)).status).toBe(404)
    expect((await api.call('GET', '/me', { bearer: body.token })).status).toBe(200)
  })
})

describe('GET /api/v0/accounts/:name/tokens paging', () => {
  it('pages in creation order', async () => {
    const carol = await createUser(api, TEST_ADMIN, 'carol')
    for (const name of ['one', 'two', 'three']) await api.call('POST', '/accounts/carol/tokens', carol, { name })
    const first = await api.call('GET', '/accounts/carol/tokens?limit=2', carol)
    expect(first.body.tokens.map((t: { name: string }) => t.name)).toEqual(['one', 'two'])
    expect(first.body.next).toEqual(expect.any(String))
    const second = await api.call(
      'GET',
      `/accounts/carol/tokens?limit=2&last=${encodeURIComponent(first.body.next)}`,
      carol,
    )
    expect(second.body).toMatchObject({ tokens: [expect.objectContaining({ name: 'three' })], next: null })
  })
})
