/**
 * Names Wharf uses for itself cannot be registered, and events and grants follow account ids, never names: an
 * account that takes a deleted account's name inherits none of its events or roles.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiClient, createOrg, createRepo, createUser, pushImage, type ApiClient } from '../helpers/api.ts'
import { tokenFor, type Credentials } from '../helpers/auth.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'

let origin: Awaited<ReturnType<typeof startOrigin>>
let api: ApiClient

beforeAll(async () => {
  origin = await startOrigin()
  api = apiClient(origin.url)
})
afterAll(async () => {
  await origin?.close()
})

const eventsOf = async (who: Credentials) => {
  const res = await api.call('GET', '/events?limit=500', who)
  expect(res.status).toBe(200)
  return res.body.events as { actor: string; actorKind: string; actorId: number | null; action: string; address: string }[]
}

describe('reserved names', () => {
  it.each(['anonymous', 'system', 'ldap', 'schedule', 'wharf-origin'])('%s cannot be an account, a user or an organization', async (name) => {
    for (const kind of ['user', 'org']) {
      const res = await api.call('POST', '/accounts', TEST_ADMIN, { name, kind, ...(kind === 'user' ? { password: 'a-long-password' } : {}) })
      expect(res.status, kind).toBe(400)
      expect(res.body.error.message).toMatch(/keeps for itself/)
    }
  })

  it('anonymous callers stay nobody: no account sees their events', async () => {
    await createRepo(api, TEST_ADMIN, 'admin/open', 'public')
    const anonymousToken = await tokenFor(origin.url, ['repository:admin/open:pull'])
    const res = await fetch(`${origin.url}/v2/admin/open/tags/list`, { headers: { authorization: `Bearer ${anonymousToken}` } })
    expect(res.status).toBe(200)
    const all = await eventsOf(TEST_ADMIN)
    const anonymous = all.filter((e) => e.actor === 'anonymous')
    expect(anonymous.length).toBeGreaterThan(0)
    expect(anonymous.every((e) => e.actorKind === 'anonymous' && e.actorId === null)).toBe(true)
    const someone = await createUser(api, TEST_ADMIN, 'someone')
    expect((await eventsOf(someone)).filter((e) => e.actor === 'anonymous')).toEqual([])
  })
})

describe('a name registered again', () => {
  it("sees none of the deleted account's events, even when it was the newest account", async () => {
    const first = await createUser(api, TEST_ADMIN, 'carol')
    expect((await pushImage(origin.url, 'carol/app', first, 'v1')).status).toBe(201)
    expect((await api.call('DELETE', '/repositories/carol/app', TEST_ADMIN)).status).toBe(204)
    const before = await eventsOf(first)
    expect(before.some((e) => e.action === 'push')).toBe(true)
    const oldId = origin.deps.identity.accounts.byName('carol')!.id
    expect((await api.call('DELETE', '/accounts/carol', TEST_ADMIN)).status).toBe(204)

    const second = await createUser(api, TEST_ADMIN, 'carol')
    // the deleted account was the newest: its id is retired, not handed out again
    expect(origin.deps.identity.accounts.byName('carol')!.id).toBeGreaterThan(oldId)
    const after = await eventsOf(second)
    expect(after.some((e) => e.action === 'push')).toBe(false)
    expect(after.every((e) => e.actorId === origin.deps.identity.accounts.byName('carol')!.id)).toBe(true)
    // the admin still sees the old account's events, under the name it had
    expect((await eventsOf(TEST_ADMIN)).some((e) => e.actor === 'carol' && e.action === 'push' && e.actorId === oldId)).toBe(true)
  })

  it("holds none of a deleted team's roles when a team of that name is made again", async () => {
    await createOrg(api, TEST_ADMIN, 'acme')
    await createRepo(api, TEST_ADMIN, 'acme/app')
    const dave = await createUser(api, TEST_ADMIN, 'dave')
    expect((await api.call('POST', '/orgs/acme/teams', TEST_ADMIN, { name: 'devs' })).status).toBe(201)
    expect([200, 204]).toContain((await api.call('PUT', '/orgs/acme/teams/devs/members/dave', TEST_ADMIN)).status)
    expect([200, 201]).toContain((await api.call('PUT', '/repositories/acme/app/_grants/teams/devs', TEST_ADMIN, { role: 'write' })).status)
    const oldTeam = origin.deps.identity.accounts.teams(origin.deps.identity.accounts.byName('acme')!.id).find((t) => t.name === 'devs')!
    expect((await api.call('DELETE', '/orgs/acme/teams/devs', TEST_ADMIN)).status).toBe(204)

    expect((await api.call('POST', '/orgs/acme/teams', TEST_ADMIN, { name: 'devs' })).status).toBe(201)
    expect([200, 204]).toContain((await api.call('PUT', '/orgs/acme/teams/devs/members/dave', TEST_ADMIN)).status)
    const newTeam = origin.deps.identity.accounts.teams(origin.deps.identity.accounts.byName('acme')!.id).find((t) => t.name === 'devs')!
    expect(newTeam.id).toBeGreaterThan(oldTeam.id)
    const grants = await api.call('GET', '/repositories/acme/app/_grants', TEST_ADMIN)
    expect(JSON.stringify(grants.body)).not.toContain('devs')
    const token = await tokenFor(origin.url, ['repository:acme/app:push'], dave)
    expect(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).access).toEqual([])
  })
})
