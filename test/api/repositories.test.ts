import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiClient, createOrg, createRepo, createUser, type ApiClient } from '../helpers/api.ts'
import type { Credentials } from '../helpers/auth.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'

let origin: Awaited<ReturnType<typeof startOrigin>>
let api: ApiClient
let alice: Credentials // owns acme
let bob: Credentials // in acme's team "devs"
let carol: Credentials // nobody in particular
let dave: Credentials // admin of one repository

beforeAll(async () => {
  origin = await startOrigin()
  api = apiClient(origin.url)
  alice = await createUser(api, TEST_ADMIN, 'alice')
  bob = await createUser(api, TEST_ADMIN, 'bob')
  carol = await createUser(api, TEST_ADMIN, 'carol')
  dave = await createUser(api, TEST_ADMIN, 'dave')
  await createOrg(api, TEST_ADMIN, 'acme', 'alice')
  await api.call('POST', '/orgs/acme/teams', alice, { name: 'devs' })
  await api.call('PUT', '/orgs/acme/teams/devs/members/bob', alice)
})
afterAll(async () => {
  await origin?.close()
})

const names = (res: { body: { repositories: { name: string }[] } }) => res.body.repositories.map((r) => r.name)

describe('POST /api/v0/repositories', () => {
  it("creates a private repository in the caller's own namespace", async () => {
    const res = await api.call('POST', '/repositories', carol, { name: 'carol/app', description: 'mine' })
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({
      name: 'carol/app',
      namespace: 'carol',
      visibility: 'private',
      description: 'mine',
      tagCount: 0,
      createdBy: 'carol',
      actions: ['pull', 'push', 'delete'],
    })
    const events = await api.call('GET', '/events?action=repository.create&target=carol/app', TEST_ADMIN)
    expect(events.body.events[0]).toMatchObject({ actor: 'carol', detail: { visibility: 'private' } })
  })

  it('lets organization owners create in the organization, and refuses others with 403', async () => {
    expect((await api.call('POST', '/repositories', alice, { name: 'acme/app' })).status).toBe(201)
    const bobTry = await api.call('POST', '/repositories', bob, { name: 'acme/other' })
    expect(bobTry.status).toBe(403)
    expect(bobTry.body.error.code).toBe('FORBIDDEN')
    expect((await api.call('POST', '/repositories', carol, { name: 'alice/stolen' })).status).toBe(403)
    expect((await api.call('POST', '/repositories', undefined, { name: 'carol/anon' })).status).toBe(401)
  })

  it('lets a team with write on the namespace create there, but not one with read', async () => {
    expect((await api.call('PUT', '/namespaces/acme/grants/teams/devs', alice, { role: 'read' })).status).toBe(200)
    expect((await api.call('POST', '/repositories', bob, { name: 'acme/by-bob' })).status).toBe(403)
    expect((await api.call('PUT', '/namespaces/acme/grants/teams/devs', alice, { role: 'write' })).status).toBe(200)
    expect((await api.call('POST', '/repositories', bob, { name: 'acme/by-bob' })).status).toBe(201)
    expect((await api.call('DELETE', '/namespaces/acme/grants/teams/devs', alice)).status).toBe(204)
  })

  it('refuses bad names (400), unknown namespaces (404) and existing repositories (409)', async () => {
    for (const name of ['noslash', 'Carol/App', 'carol/app:tag', 'carol//x', 'carol/-x']) {
      const res = await api.call('POST', '/repositories', TEST_ADMIN, { name })
      expect(res.status, name).toBe(400)
    }
    expect((await api.call('POST', '/repositories', TEST_ADMIN, { name: 'ghost/app' })).status).toBe(404)
    const dup = await api.call('POST', '/repositories', TEST_ADMIN, { name: 'carol/app' })
    expect(dup.status).toBe(409)
    expect(dup.body.error.code).toBe('CONFLICT')
    expect((await api.call('POST', '/repositories', carol, { name: 'carol/x', visibility: 'secret' })).status).toBe(400)
  })

  it('accepts nested names', async () => {
    expect(
      (await api.call('POST', '/repositories', alice, { name: 'acme/team/tool', visibility: 'public' })).status,
    ).toBe(201)
    expect((await api.call('GET', '/repositories/acme/team/tool')).body.visibility).toBe('public')
  })
})

describe('who sees which repository', () => {
  beforeAll(async () => {
    await createRepo(api, alice, 'acme/public-a', 'public')
    await createRepo(api, alice, 'acme/public-b', 'public')
    await createRepo(api, alice, 'acme/secret')
  })

  it('anonymous callers see public repositories only, in lists and by name', async () => {
    const list = await api.call('GET', '/repositories')
    expect(list.status).toBe(200)
    expect(names(list)).toEqual(['acme/public-a', 'acme/public-b', 'acme/team/tool'])
    expect((await api.call('GET', '/repositories/acme/public-a')).body.actions).toEqual(['pull'])
    const hidden = await api.call('GET', '/repositories/acme/secret')
    expect(hidden.status).toBe(404)
    expect(hidden.body.error.code).toBe('NOT_FOUND')
  })

  it('signed-in users see public ones and the private ones they hold some access to', async () => {
    expect(names(await api.call('GET', '/repositories', carol))).toEqual([
      'acme/public-a',
      'acme/public-b',
      'acme/team/tool',
      'carol/app',
    ])
    expect((await api.call('GET', '/repositories/acme/secret', carol)).status).toBe(404)
    expect(
      (await api.call('PUT', '/repositories/acme/secret/_grants/users/carol', alice, { role: 'read-only' })).status,
    ).toBe(200)
    expect(names(await api.call('GET', '/repositories', carol))).toContain('acme/secret')
    expect((await api.call('GET', '/repositories/acme/secret', carol)).body.actions).toEqual(['pull'])
  })

  it('owners and admins see everything in their reach', async () => {
    expect(names(await api.call('GET', '/repositories?namespace=acme', alice))).toEqual([
      'acme/app',
      'acme/by-bob',
      'acme/public-a',
      'acme/public-b',
      'acme/secret',
      'acme/team/tool',
    ])
    expect(names(await api.call('GET', '/repositories', TEST_ADMIN))).toContain('carol/app')
  })

  it('pages over what the caller may see, skipping what they may not', async () => {
    const seen: string[] = []
    let last = ''
    for (;;) {
      const res = await api.call('GET', `/repositories?limit=1&last=${encodeURIComponent(last)}`)
      expect(res.body.repositories.length).toBeLessThanOrEqual(1)
      seen.push(...names(res))
      if (!res.body.next) break
      last = res.body.next
    }
    expect(seen).toEqual(['acme/public-a', 'acme/public-b', 'acme/team/tool'])
  })

  it('filters by namespace and refuses a malformed one', async () => {
    expect(names(await api.call('GET', '/repositories?namespace=carol', carol))).toEqual(['carol/app'])
    expect((await api.call('GET', '/repositories?namespace=a/b', carol)).status).toBe(400)
  })
})

describe('PATCH and DELETE /api/v0/repositories/:name', () => {
  beforeAll(async () => {
    await createRepo(api, alice, 'acme/managed')
    await api.call('PUT', '/repositories/acme/managed/_grants/users/dave', alice, { role: 'admin' })
    await api.call('PUT', '/repositories/acme/managed/_grants/users/bob', alice, { role: 'write' })
  })

  it('lets a repository admin change visibility; a writer may not', async () => {
    expect((await api.call('PATCH', '/repositories/acme/managed', bob, { visibility: 'public' })).status).toBe(403)
    const res = await api.call('PATCH', '/repositories/acme/managed', dave, {
      visibility: 'public',
      description: 'now public',
    })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ visibility: 'public', description: 'now public' })
    expect((await api.call('GET', '/repositories/acme/managed')).status).toBe(200)
    const events = await api.call('GET', '/events?action=repository.update&target=acme/managed', TEST_ADMIN)
    expect(events.body.events[0]).toMatchObject({ actor: 'dave', detail: { visibility: 'public' } })
  })

  it('lets a repository admin manage its grants; a writer may not even list them', async () => {
    expect((await api.call('GET', '/repositories/acme/managed/_grants', bob)).status).toBe(403)
    const list = await api.call('GET', '/repositories/acme/managed/_grants', dave)
    expect(list.body.grants.map((g: { subject: string; role: string }) => `${g.subject}:${g.role}`)).toEqual([
      'bob:write',
      'dave:admin',
    ])
    expect(
      (await api.call('PUT', '/repositories/acme/managed/_grants/users/carol', dave, { role: 'read' })).status,
    ).toBe(200)
    expect(
      (await api.call('PUT', '/repositories/acme/managed/_grants/users/carol', bob, { role: 'admin' })).status,
    ).toBe(403)
  })

  it('hides a private repository from those who may not see it: 404, not 403', async () => {
    await createRepo(api, alice, 'acme/hidden')
    expect((await api.call('PATCH', '/repositories/acme/hidden', carol, { visibility: 'public' })).status).toBe(404)
    expect((await api.call('DELETE', '/repositories/acme/hidden', carol)).status).toBe(404)
    // anonymous callers are asked to sign in before anything else
    expect((await api.call('DELETE', '/repositories/acme/hidden')).status).toBe(401)
    expect((await api.call('GET', '/repositories/acme/hidden', alice)).status).toBe(200)
  })

  it('deletes a repository and its grants', async () => {
    expect((await api.call('DELETE', '/repositories/acme/managed', bob)).status).toBe(403)
    expect((await api.call('DELETE', '/repositories/acme/managed', dave)).status).toBe(204)
    expect((await api.call('GET', '/repositories/acme/managed', TEST_ADMIN)).status).toBe(404)
    await createRepo(api, alice, 'acme/managed')
    expect((await api.call('GET', '/repositories/acme/managed/_grants', alice)).body.grants).toEqual([])
    expect((await api.call('GET', '/repositories/acme/managed', dave)).status).toBe(404)
    expect((await api.call('GET', '/events?action=repository.delete', TEST_ADMIN)).body.events[0]).toMatchObject({
      actor: 'dave',
      target: 'acme/managed',
    })
  })
})

describe('grants', () => {
  it("take a role name in ours or DTR's spelling, and refuse others", async () => {
    await createRepo(api, alice, 'acme/roles')
    const res = await api.call('PUT', '/repositories/acme/roles/_grants/users/carol', alice, { role: 'read-write' })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({
      subjectType: 'user',
      subject: 'carol',
      scopeType: 'repository',
      scope: 'acme/roles',
      role: 'write',
      createdBy: 'alice',
    })
    const bad = await api.call('PUT', '/repositories/acme/roles/_grants/users/carol', alice, { role: 'owner' })
    expect(bad.status).toBe(400)
    expect(bad.body.error.message).toMatch(/role must be one of/)
    expect((await api.call('PUT', '/repositories/acme/roles/_grants/users/carol', alice, {})).status).toBe(400)
  })

  it('record grant.set with the previous role, and grant.delete', async () => {
    await api.call('PUT', '/repositories/acme/roles/_grants/users/carol', alice, { role: 'admin' })
    expect((await api.call('DELETE', '/repositories/acme/roles/_grants/users/carol', alice)).status).toBe(204)
    expect((await api.call('DELETE', '/repositories/acme/roles/_grants/users/carol', alice)).status).toBe(404)
    const events = await api.call('GET', '/events?target=acme/roles&targetType=repository&limit=3', TEST_ADMIN)
    expect(events.body.events.map((e: { action: string; detail: unknown }) => [e.action, e.detail])).toEqual([
      ['grant.delete', { subjectType: 'user', subject: 'carol', previous: 'admin' }],
      ['grant.set', { subjectType: 'user', subject: 'carol', role: 'admin', previous: 'write' }],
      ['grant.set', { subjectType: 'user', subject: 'carol', role: 'write', previous: null }],
    ])
  })

  it("name only existing users, and teams of the namespace's organization", async () => {
    expect(
      (await api.call('PUT', '/repositories/acme/roles/_grants/users/nobody', alice, { role: 'read' })).status,
    ).toBe(404)
    expect((await api.call('PUT', '/repositories/acme/roles/_grants/users/acme', alice, { role: 'read' })).status).toBe(
      404,
    )
    expect(
      (await api.call('PUT', '/repositories/acme/roles/_grants/teams/ghosts', alice, { role: 'read' })).status,
    ).toBe(404)
    expect((await api.call('PUT', '/repositories/carol/app/_grants/teams/devs', carol, { role: 'read' })).status).toBe(
      400,
    )
    expect((await api.call('PUT', '/repositories/acme/roles/_grants/robots/x', alice, { role: 'read' })).status).toBe(
      404,
    )
  })

  it('on a namespace apply to every repository in it, and only organizations have them', async () => {
    expect((await api.call('GET', '/repositories/acme/secret', dave)).status).toBe(404)
    const set = await api.call('PUT', '/namespaces/acme/grants/users/dave', alice, { role: 'read' })
    expect(set.status).toBe(200)
    expect(set.body).toMatchObject({ scopeType: 'namespace', scope: 'acme', role: 'read' })
    expect((await api.call('GET', '/repositories/acme/secret', dave)).body.actions).toEqual(['pull'])
    expect((await api.call('GET', '/namespaces/acme/grants', alice)).body.grants).toHaveLength(1)
    expect((await api.call('PUT', '/namespaces/carol/grants/users/dave', carol, { role: 'read' })).status).toBe(400)
    expect((await api.call('PUT', '/namespaces/ghost/grants/users/dave', TEST_ADMIN, { role: 'read' })).status).toBe(
      404,
    )
  })

  it('on a namespace are managed by its owners only', async () => {
    expect((await api.call('PUT', '/namespaces/acme/grants/users/carol', dave, { role: 'admin' })).status).toBe(403)
    expect((await api.call('GET', '/namespaces/acme/grants', bob)).status).toBe(403)
    expect((await api.call('DELETE', '/namespaces/acme/grants/users/dave', bob)).status).toBe(403)
    expect((await api.call('DELETE', '/namespaces/acme/grants/users/dave', alice)).status).toBe(204)
    expect((await api.call('GET', '/repositories/acme/secret', dave)).status).toBe(404)
  })

  it('work on nested repository names', async () => {
    await createRepo(api, alice, 'acme/deep/er')
    expect(
      (await api.call('PUT', '/repositories/acme/deep/er/_grants/teams/devs', alice, { role: 'read' })).status,
    ).toBe(200)
    const list = await api.call('GET', '/repositories/acme/deep/er/_grants', alice)
    expect(list.body.grants).toEqual([
      expect.objectContaining({ subjectType: 'team', subject: 'devs', scope: 'acme/deep/er' }),
    ])
    expect((await api.call('GET', '/repositories/acme/deep/er', bob)).body.actions).toEqual(['pull'])
  })
})
