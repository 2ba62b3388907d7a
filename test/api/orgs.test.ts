import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiClient, createOrg, createRepo, createUser, type ApiClient } from '../helpers/api.ts'
import type { Credentials } from '../helpers/auth.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'

let origin: Awaited<ReturnType<typeof startOrigin>>
let api: ApiClient
let owner: Credentials
let member: Credentials
let outsider: Credentials

beforeAll(async () => {
  origin = await startOrigin()
  api = apiClient(origin.url)
  owner = await createUser(api, TEST_ADMIN, 'olga')
  member = await createUser(api, TEST_ADMIN, 'mike')
  outsider = await createUser(api, TEST_ADMIN, 'otto')
  await createOrg(api, TEST_ADMIN, 'acme', 'olga')
})
afterAll(async () => {
  await origin?.close()
})

const names = (list: { name: string }[]) => list.map((x) => x.name)

describe('organization members', () => {
  it('lets the owner add a member, who then sees the member list', async () => {
    const add = await api.call('PUT', '/orgs/acme/members/mike', owner)
    expect(add.status).toBe(200)
    expect(add.body).toEqual({ name: 'mike', isOwner: false })
    const list = await api.call('GET', '/orgs/acme/members', member)
    expect(list.status).toBe(200)
    expect(list.body).toEqual({
      members: [
        { name: 'mike', isOwner: false },
        { name: 'olga', isOwner: true },
      ],
      next: null,
    })
  })

  it('keeps the member list from outsiders (403) and anonymous callers (401)', async () => {
    expect((await api.call('GET', '/orgs/acme/members', outsider)).status).toBe(403)
    expect((await api.call('GET', '/orgs/acme/members')).status).toBe(401)
    expect((await api.call('GET', '/orgs/acme/members', TEST_ADMIN)).status).toBe(200)
  })

  it('lets only owners and admins change membership', async () => {
    const res = await api.call('PUT', '/orgs/acme/members/otto', member)
    expect(res.status).toBe(403)
    expect(res.body.error.code).toBe('FORBIDDEN')
    expect((await api.call('PUT', '/orgs/acme/members/otto', outsider)).status).toBe(403)
    expect(names((await api.call('GET', '/orgs/acme/members', owner)).body.members)).toEqual(['mike', 'olga'])
  })

  it('404s unknown organizations and users, and users that are not organizations', async () => {
    expect((await api.call('PUT', '/orgs/nope/members/mike', TEST_ADMIN)).status).toBe(404)
    expect((await api.call('PUT', '/orgs/acme/members/nobody', owner)).status).toBe(404)
    expect((await api.call('GET', '/orgs/olga/members', owner)).status).toBe(404)
    expect((await api.call('PUT', '/orgs/acme/members/acme', owner)).status).toBe(404)
  })

  it('pages the member list', async () => {
    const first = await api.call('GET', '/orgs/acme/members?limit=1', owner)
    expect(first.body).toEqual({ members: [{ name: 'mike', isOwner: false }], next: 'mike' })
    const second = await api.call('GET', '/orgs/acme/members?limit=1&last=mike', owner)
    expect(second.body).toEqual({ members: [{ name: 'olga', isOwner: true }], next: null })
  })

  it('never leaves an organization without an owner once it has one', async () => {
    const demote = await api.call('PUT', '/orgs/acme/members/olga', owner, { isOwner: false })
    expect(demote.status).toBe(409)
    expect((await api.call('DELETE', '/orgs/acme/members/olga', TEST_ADMIN)).status).toBe(409)
    expect((await api.call('GET', '/orgs/acme/members', owner)).body.members).toContainEqual({
      name: 'olga',
      isOwner: true,
    })
  })

  it('records org.member.add and org.member.remove with the user', async () => {
    await createUser(api, TEST_ADMIN, 'tmp')
    expect((await api.call('PUT', '/orgs/acme/members/tmp', owner)).status).toBe(200)
    expect((await api.call('DELETE', '/orgs/acme/members/tmp', owner)).status).toBe(204)
    expect((await api.call('DELETE', '/orgs/acme/members/tmp', owner)).status).toBe(404)
    const events = await api.call('GET', '/events?target=acme&action=org.member.add', TEST_ADMIN)
    expect(events.body.events[0]).toMatchObject({
      actor: 'olga',
      targetType: 'org',
      target: 'acme',
      detail: { user: 'tmp', isOwner: false },
    })
    const removed = await api.call('GET', '/events?target=acme&action=org.member.remove', TEST_ADMIN)
    expect(removed.body.events).toHaveLength(1)
    expect(removed.body.events[0].detail).toEqual({ user: 'tmp' })
  })
})

describe('teams', () => {
  it('are created by owners, with a name in the component grammar, once', async () => {
    const res = await api.call('POST', '/orgs/acme/teams', owner, { name: 'devs', description: 'developers' })
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({ org: 'acme', name: 'devs', description: 'developers', ldapGroup: null })
    expect((await api.call('POST', '/orgs/acme/teams', owner, { name: 'devs' })).status).toBe(409)
    expect((await api.call('POST', '/orgs/acme/teams', owner, { name: 'Dev Team' })).status).toBe(400)
    expect((await api.call('POST', '/orgs/acme/teams', member, { name: 'ops' })).status).toBe(403)
    const events = await api.call('GET', '/events?action=team.create', TEST_ADMIN)
    expect(events.body.events.map((e: { target: string }) => e.target)).toEqual(['acme/devs'])
  })

  it('are listed to members, not outsiders', async () => {
    expect(names((await api.call('GET', '/orgs/acme/teams', member)).body.teams)).toEqual(['devs'])
    expect((await api.call('GET', '/orgs/acme/teams', outsider)).status).toBe(403)
    expect((await api.call('GET', '/orgs/acme/teams/devs', member)).body.description).toBe('developers')
    expect((await api.call('GET', '/orgs/acme/teams/nope', member)).status).toBe(404)
  })

  it('can be changed by owners', async () => {
    const res = await api.call('PATCH', '/orgs/acme/teams/devs', owner, { description: 'builders' })
    expect(res.status).toBe(200)
    expect(res.body.description).toBe('builders')
    expect((await api.call('PATCH', '/orgs/acme/teams/devs', member, { description: 'x' })).status).toBe(403)
  })

  it('take members, who become organization members too', async () => {
    const add = await api.call('PUT', '/orgs/acme/teams/devs/members/otto', owner)
    expect(add.status).toBe(204)
    expect((await api.call('GET', '/orgs/acme/teams/devs/members', outsider)).body).toEqual({
      members: ['otto'],
      next: null,
    })
    expect((await api.call('GET', '/orgs/acme/members', owner)).body.members).toContainEqual({
      name: 'otto',
      isOwner: false,
    })
    expect((await api.call('GET', '/me', outsider)).body.teams).toEqual([{ org: 'acme', name: 'devs' }])
    const events = await api.call('GET', '/events?target=acme*&actor=olga&limit=2', TEST_ADMIN)
    expect(events.body.events.map((e: { action: string }) => e.action)).toEqual(['team.member.add', 'org.member.add'])
  })

  it('lose members only by owners', async () => {
    expect((await api.call('DELETE', '/orgs/acme/teams/devs/members/otto', member)).status).toBe(403)
    expect((await api.call('DELETE', '/orgs/acme/teams/devs/members/otto', owner)).status).toBe(204)
    expect((await api.call('DELETE', '/orgs/acme/teams/devs/members/otto', owner)).status).toBe(404)
    expect((await api.call('GET', '/orgs/acme/teams/devs/members', owner)).body.members).toEqual([])
    const events = await api.call('GET', '/events?action=team.member.remove', TEST_ADMIN)
    expect(events.body.events[0]).toMatchObject({ target: 'acme/devs', detail: { user: 'otto' } })
  })

  it('give their members what the team was granted', async () => {
    await createRepo(api, owner, 'acme/app')
    await api.call('PUT', '/orgs/acme/teams/devs/members/mike', owner)
    expect((await api.call('GET', '/repositories/acme/app', member)).status).toBe(404)
    expect(
      (await api.call('PUT', '/repositories/acme/app/_grants/teams/devs', owner, { role: 'read-write' })).status,
    ).toBe(200)
    expect((await api.call('GET', '/repositories/acme/app', member)).body.actions).toEqual(['pull', 'push'])
  })

  it('removing a member from the organization removes them from its teams', async () => {
    expect((await api.call('DELETE', '/orgs/acme/members/mike', owner)).status).toBe(204)
    expect((await api.call('GET', '/orgs/acme/teams/devs/members', owner)).body.members).toEqual([])
    expect((await api.call('GET', '/repositories/acme/app', member)).status).toBe(404)
  })

  it('when deleted, take their grants with them', async () => {
    await api.call('PUT', '/orgs/acme/teams/devs/members/mike', owner)
    expect((await api.call('GET', '/repositories/acme/app', member)).status).toBe(200)
    expect((await api.call('DELETE', '/orgs/acme/teams/devs', member)).status).toBe(403)
    expect((await api.call('DELETE', '/orgs/acme/teams/devs', owner)).status).toBe(204)
    expect((await api.call('GET', '/repositories/acme/app', member)).status).toBe(404)
    expect((await api.call('GET', '/repositories/acme/app/_grants', owner)).body.grants).toEqual([])
    // a new team of the same name starts with nothing
    await api.call('POST', '/orgs/acme/teams', owner, { name: 'devs' })
    await api.call('PUT', '/orgs/acme/teams/devs/members/mike', owner)
    expect((await api.call('GET', '/repositories/acme/app', member)).status).toBe(404)
    expect((await api.call('GET', '/events?action=team.delete', TEST_ADMIN)).body.events[0].target).toBe('acme/devs')
  })
})
