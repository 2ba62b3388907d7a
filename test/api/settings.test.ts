import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiClient, createOrg, createUser, pushImage, type ApiClient } from '../helpers/api.ts'
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

describe('GET and PATCH /api/v0/meta/settings', () => {
  it('are for admins only', async () => {
    expect((await api.call('GET', '/meta/settings')).status).toBe(401)
    expect((await api.call('GET', '/meta/settings', alice)).status).toBe(403)
    expect((await api.call('PATCH', '/meta/settings', alice, { createRepositoryOnPush: false })).status).toBe(403)
    expect((await api.call('GET', '/meta/settings', TEST_ADMIN)).body).toEqual({ createRepositoryOnPush: true })
  })

  it('refuse unknown settings and wrong types with 400', async () => {
    const unknown = await api.call('PATCH', '/meta/settings', TEST_ADMIN, { createRepoOnPush: false })
    expect(unknown.status).toBe(400)
    expect(unknown.body.error.message).toMatch(/unknown field createRepoOnPush/)
    expect((await api.call('PATCH', '/meta/settings', TEST_ADMIN, { createRepositoryOnPush: 'no' })).status).toBe(400)
    expect((await api.call('GET', '/meta/settings', TEST_ADMIN)).body.createRepositoryOnPush).toBe(true)
  })
})

describe('createRepositoryOnPush', () => {
  it('when false, refuses a push to a repository that does not exist, with a message saying what to do', async () => {
    const off = await api.call('PATCH', '/meta/settings', TEST_ADMIN, { createRepositoryOnPush: false })
    expect(off.status).toBe(200)
    expect(off.body).toEqual({ createRepositoryOnPush: false })
    const events = await api.call('GET', '/events?action=settings.update', TEST_ADMIN)
    expect(events.body.events[0]).toMatchObject({
      actor: 'admin',
      detail: { changes: { createRepositoryOnPush: false } },
    })

    const push = await pushImage(origin.url, 'alice/new', alice)
    expect(push.status).toBe(403)
    const error = JSON.parse(push.text).errors[0]
    expect(error.code).toBe('DENIED')
    expect(error.message).toMatch(/alice\/new does not exist.*create it first \(POST \/api\/v0\/repositories\)/)
    expect((await api.call('GET', '/repositories/alice/new', TEST_ADMIN)).status).toBe(404)

    // created first, the same push succeeds
    await api.call('POST', '/repositories', alice, { name: 'alice/new' })
    expect((await pushImage(origin.url, 'alice/new', alice)).status).toBe(201)
  })

  it("when true, creates a private repository in the pusher's own namespace", async () => {
    expect((await api.call('PATCH', '/meta/settings', TEST_ADMIN, { createRepositoryOnPush: true })).status).toBe(200)
    const push = await pushImage(origin.url, 'alice/auto', alice)
    expect(push.status).toBe(201)
    const repo = await api.call('GET', '/repositories/alice/auto', alice)
    expect(repo.body).toMatchObject({ visibility: 'private', createdBy: 'alice', tagCount: 1 })
    expect((await api.call('GET', '/repositories/alice/auto', bob)).status).toBe(404)
  })

  it('when true, still creates nothing where the pusher may not write', async () => {
    const push = await pushImage(origin.url, 'alice/by-bob', bob)
    expect(push.status).toBe(401)
    expect((await api.call('GET', '/repositories/alice/by-bob', TEST_ADMIN)).status).toBe(404)
  })

  it('when true, creates in an organization for members with write on its namespace, not for readers', async () => {
    await createOrg(api, TEST_ADMIN, 'acme', 'alice')
    await api.call('POST', '/orgs/acme/teams', alice, { name: 'devs' })
    await api.call('PUT', '/orgs/acme/teams/devs/members/bob', alice)
    await api.call('PUT', '/namespaces/acme/grants/teams/devs', alice, { role: 'read' })
    expect((await pushImage(origin.url, 'acme/svc', bob)).status).toBe(401)
    await api.call('PUT', '/namespaces/acme/grants/teams/devs', alice, { role: 'write' })
    expect((await pushImage(origin.url, 'acme/svc', bob)).status).toBe(201)
    expect((await api.call('GET', '/repositories/acme/svc', bob)).body).toMatchObject({
      visibility: 'private',
      createdBy: 'bob',
    })
  })
})

describe('POST /api/v0/meta/keys/rotate', () => {
  it('makes a new signing key (admins only); tokens signed before keep working', async () => {
    const before = await getToken(origin.url, [], TEST_ADMIN)
    expect((await api.call('POST', '/meta/keys/rotate', alice)).status).toBe(403)
    const res = await api.call('POST', '/meta/keys/rotate', TEST_ADMIN)
    expect(res.status).toBe(200)
    expect(res.body.kid).toEqual(expect.any(String))
    const jwks = (await (await fetch(`${origin.url}/auth/jwks.json`)).json()) as { keys: { kid: string }[] }
    expect(jwks.keys.map((k) => k.kid)).toContain(res.body.kid)
    expect(jwks.keys.length).toBeGreaterThanOrEqual(2)
    const after = await getToken(origin.url, [], TEST_ADMIN)
    const kid = (t: string) =>
      (JSON.parse(Buffer.from(t.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid
    expect(kid(after.body.token as string)).toBe(res.body.kid)
    expect(kid(before.body.token as string)).not.toBe(res.body.kid)
    const v2 = await fetch(`${origin.url}/v2/`, { headers: { authorization: `Bearer ${before.body.token as string}` } })
    expect(v2.status).toBe(200)
    const events = await api.call('GET', '/events?action=keys.rotate', TEST_ADMIN)
    expect(events.body.events[0]).toMatchObject({ actor: 'admin', target: res.body.kid })
  })
})
