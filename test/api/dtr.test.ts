/**
 * DTR's /api/v0 where its users' scripts call it (docs/dtr-migration.md): the settings POST, feature flags,
 * teamAccess, content caches and a user's content cache, against a real origin (and a real control plane for the
 * caches).
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiClient, createOrg, createRepo, createUser, type ApiClient } from '../helpers/api.ts'
import { decodeAccess, tokenFor, type Credentials } from '../helpers/auth.ts'
import { startNetwork, type Network } from '../helpers/network.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'

const run = promisify(execFile)

let origin: Awaited<ReturnType<typeof startOrigin>>
let api: ApiClient
let alice: Credentials
let bob: Credentials

beforeAll(async () => {
  origin = await startOrigin()
  api = apiClient(origin.url)
  alice = await createUser(api, TEST_ADMIN, 'alice')
  bob = await createUser(api, TEST_ADMIN, 'bob')
  await createOrg(api, TEST_ADMIN, 'acme', 'alice')
  expect((await api.call('POST', '/orgs/acme/teams', alice, { name: 'devs' })).status).toBe(201)
  expect((await api.call('PUT', '/orgs/acme/teams/devs/members/bob', alice)).status).toBe(204)
  await createRepo(api, alice, 'acme/app')
})
afterAll(async () => {
  await origin?.close()
})

describe('POST /api/v0/meta/settings (DTR)', () => {
  it("answers DTR's documented curl command with 202, and the setting holds", async () => {
    expect((await api.call('PATCH', '/meta/settings', TEST_ADMIN, { createRepositoryOnPush: false })).status).toBe(200)
    // docker/docs: ee/dtr/admin/configure/allow-creation-on-push.md, word for word but for the address
    const { stdout } = await run('curl', [
      '--silent',
      '--write-out',
      '\n%{http_code}',
      '--user',
      `${TEST_ADMIN.username}:${TEST_ADMIN.password}`,
      '--request',
      'POST',
      `${origin.url}/api/v0/meta/settings`,
      '--header',
      'accept: application/json',
      '--header',
      'content-type: application/json',
      '--data',
      '{"createRepositoryOnPush": true}',
    ])
    const [body, status] = stdout.split('\n')
    expect(status).toBe('202')
    expect(JSON.parse(body!)).toEqual({ createRepositoryOnPush: true })
    expect((await api.call('GET', '/meta/settings', TEST_ADMIN)).body).toEqual({ createRepositoryOnPush: true })
  })

  it('is for admins, and checks its body like PATCH', async () => {
    expect((await api.call('POST', '/meta/settings', alice, { createRepositoryOnPush: false })).status).toBe(403)
    const typo = await api.call('POST', '/meta/settings', TEST_ADMIN, { createRepoOnPush: true })
    expect(typo.status).toBe(400)
    expect(typo.body.error.message).toMatch(/unknown field createRepoOnPush; expected createRepositoryOnPush/)
    // curl's default form encoding is refused rather than read as an empty change
    const form = await api.call('POST', '/meta/settings', TEST_ADMIN, '{"createRepositoryOnPush": false}', {
      'content-type': 'application/x-www-form-urlencoded',
    })
    expect(form.status).toBe(400)
    expect(form.body.error.message).toMatch(/Content-Type: application\/json/)
    expect((await api.call('GET', '/meta/settings', TEST_ADMIN)).body).toEqual({ createRepositoryOnPush: true })
  })
})

describe('GET /api/v0/meta/features', () => {
  it("answers DTR's flags for what Wharf has: no scanning, promotion, mirroring or online GC", async () => {
    const res = await api.call('GET', '/meta/features', bob)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({
      scanningLicensed: false,
      promotionLicensed: false,
      mirroringLicensed: false,
      onlineGCEnabled: false,
      ucpHost: '',
      contentCachesEnabled: false,
    })
    expect((await api.call('GET', '/meta/features')).status).toBe(401)
  })
})

describe('teamAccess (DTR) maps onto grants', () => {
  it('PUT/DELETE /repositories/{ns}/{repo}/teamAccess/{team} sets and removes the team grant', async () => {
    const put = await api.call('PUT', '/repositories/acme/app/teamAccess/devs', alice, { accessLevel: 'read-write' })
    expect(put.status).toBe(200)
    expect(put.body).toEqual({
      accessLevel: 'read-write',
      team: { name: 'devs', orgName: 'acme' },
      repository: { namespace: 'acme', name: 'app' },
    })
    const grants = await api.call('GET', '/repositories/acme/app/_grants', alice)
    expect(grants.body.grants).toContainEqual(expect.objectContaining({ subjectType: 'team', subject: 'devs', role: 'write' }))
    // the grant works: bob, in devs, may push
    const token = await tokenFor(origin.url, ['repository:acme/app:pull,push'], bob)
    expect(decodeAccess(token)).toEqual([{ type: 'repository', name: 'acme/app', actions: ['pull', 'push'] }])

    expect((await api.call('DELETE', '/repositories/acme/app/teamAccess/devs', alice)).status).toBe(204)
    expect((await api.call('DELETE', '/repositories/acme/app/teamAccess/devs', alice)).status).toBe(404)
    const after = await tokenFor(origin.url, ['repository:acme/app:pull,push'], bob)
    expect(decodeAccess(after)).toEqual([])
  })

  it('PUT/GET/DELETE /repositoryNamespaces/{ns}/teamAccess/{team} covers the whole namespace', async () => {
    expect((await api.call('GET', '/repositoryNamespaces/acme/teamAccess/devs', alice)).status).toBe(404)
    const put = await api.call('PUT', '/repositoryNamespaces/acme/teamAccess/devs', alice, { accessLevel: 'read-only' })
    expect(put.status).toBe(200)
    expect(put.body).toEqual({ accessLevel: 'read-only', team: { name: 'devs', orgName: 'acme' }, namespace: { name: 'acme' } })
    const got = await api.call('GET', '/repositoryNamespaces/acme/teamAccess/devs', alice)
    expect(got.body).toEqual(put.body)
    const grants = await api.call('GET', '/namespaces/acme/grants', alice)
    expect(grants.body.grants).toContainEqual(expect.objectContaining({ subject: 'devs', role: 'read', scopeType: 'namespace' }))
    const token = await tokenFor(origin.url, ['repository:acme/app:pull,push'], bob)
    expect(decodeAccess(token)).toEqual([{ type: 'repository', name: 'acme/app', actions: ['pull'] }])
    expect((await api.call('DELETE', '/repositoryNamespaces/acme/teamAccess/devs', alice)).status).toBe(204)
    expect((await api.call('GET', '/repositoryNamespaces/acme/teamAccess/devs', alice)).status).toBe(404)
  })

  it("takes only DTR's access levels, and only from those who manage the grants", async () => {
    const bad = await api.call('PUT', '/repositories/acme/app/teamAccess/devs', alice, { accessLevel: 'write' })
    expect(bad.status).toBe(400)
    expect(bad.body.error.message).toMatch(/accessLevel must be one of read-only, read-write, admin/)
    const missing = await api.call('PUT', '/repositoryNamespaces/acme/teamAccess/devs', alice, {})
    expect(missing.body.error.message).toMatch(/accessLevel is required/)
    expect((await api.call('PUT', '/repositories/acme/app/teamAccess/devs', bob, { accessLevel: 'admin' })).status).toBe(404)
    expect((await api.call('PUT', '/repositoryNamespaces/acme/teamAccess/devs', bob, { accessLevel: 'admin' })).status).toBe(403)
    expect((await api.call('PUT', '/repositoryNamespaces/acme/teamAccess/ghosts', alice, { accessLevel: 'admin' })).status).toBe(404)
  })
})

describe('content caches (DTR) over a real control plane', () => {
  let net: Network
  let napi: ApiClient
  beforeAll(async () => {
    net = await startNetwork({ sites: [] })
    napi = apiClient(net.origin.url)
    await createUser(napi, TEST_ADMIN, 'carol')
    await createUser(napi, TEST_ADMIN, 'dave')
  })
  afterAll(async () => {
    await net?.close()
  })
  const carol = { username: 'carol', password: 'carol-password-1' }
  const dave = { username: 'dave', password: 'dave-password-1' }

  it('POST /content_caches (admins) registers a site on the control plane; GET lists and shows it', async () => {
    expect((await napi.call('GET', '/content_caches', carol)).body).toEqual([])
    const created = await napi.call('POST', '/content_caches', TEST_ADMIN, {
      name: 'region-asia',
      host: 'https://cache-asia.example.com:443',
    })
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    expect(created.body).toEqual({ id: expect.stringMatching(/^s_/), name: 'region-asia', host: 'https://cache-asia.example.com' })
    const site = await net.api('GET', '/sites/region-asia')
    expect(site.body).toMatchObject({ id: created.body.id, url: 'https://cache-asia.example.com' })

    expect((await napi.call('GET', '/content_caches', carol)).body).toEqual([created.body])
    const one = await napi.call('GET', `/content_caches/${created.body.id}`, carol)
    expect(one.body).toEqual(created.body)
    const events = await napi.call('GET', '/events?action=cache.create', TEST_ADMIN)
    expect(events.body.events[0]).toMatchObject({ actor: 'admin', target: 'region-asia' })
  })

  it('refuses non-admins, bad details and taken names', async () => {
    const asUser = await napi.call('POST', '/content_caches', carol, { name: 'mine', host: 'https://mine.example.com' })
    expect(asUser.status).toBe(403)
    const path = await napi.call('POST', '/content_caches', TEST_ADMIN, { name: 'pathy', host: 'https://x.example.com/v2/' })
    expect(path.status).toBe(400)
    expect(path.body.error.message).toMatch(/invalid content cache details: .*url must be an http\(s\) URL at a host's root/)
    const noHost = await napi.call('POST', '/content_caches', TEST_ADMIN, { name: 'nohost' })
    expect(noHost.body.error.message).toMatch(/host is required/)
    const taken = await napi.call('POST', '/content_caches', TEST_ADMIN, { name: 'region-asia', host: 'https://other.example.com' })
    expect(taken.status).toBe(409)
    expect((await napi.call('DELETE', '/content_caches/region-asia', carol)).status).toBe(403)
  })

  it('GET /content_caches/{id} of an unknown cache is 404 NO_SUCH_CONTENT_CACHE', async () => {
    const res = await napi.call('GET', '/content_caches/s_0000000000000000', carol)
    expect(res.status).toBe(404)
    expect(res.body.error.code).toBe('NO_SUCH_CONTENT_CACHE')
  })

  it("a user's content cache: PATCH {contentCacheUUID} sets the assignment, GET shows ContentCacheUUID", async () => {
    const [asia] = (await napi.call('GET', '/content_caches', carol)).body
    const patched = await napi.call('PATCH', '/accounts/carol/settings', carol, { contentCacheUUID: asia.id })
    expect(patched.status, JSON.stringify(patched.body)).toBe(200)
    expect(patched.body).toMatchObject({ ContentCacheUUID: asia.id, cacheSite: 'region-asia' })
    expect((await net.api('GET', '/assignments/user/carol')).body).toMatchObject({ site: 'region-asia' })
    expect((await napi.call('GET', '/accounts/carol/settings', carol)).body.ContentCacheUUID).toBe(asia.id)

    const unknown = await napi.call('PATCH', '/accounts/carol/settings', carol, { contentCacheUUID: 's_ffffffffffffffff' })
    expect(unknown.status).toBe(400)
    expect(unknown.body.error.code).toBe('INVALID_USER_SETTINGS')
    // Wharf's own field still works, and '' clears DTR's way
    expect((await napi.call('PATCH', '/accounts/dave/settings', dave, { cacheSite: 'region-asia' })).body.ContentCacheUUID).toBe(asia.id)
    const cleared = await napi.call('PATCH', '/accounts/dave/settings', dave, { contentCacheUUID: '' })
    expect(cleared.body).toMatchObject({ ContentCacheUUID: '', cacheSite: null })
    const both = await napi.call('PATCH', '/accounts/dave/settings', dave, { cacheSite: 'region-asia', contentCacheUUID: asia.id })
    expect(both.status).toBe(400)
    expect((await napi.call('PATCH', '/accounts/carol/settings', dave, { contentCacheUUID: asia.id })).status).toBe(403)
  })

  it('DELETE /content_caches/{id} (admins) removes the site; removing it again is still 204', async () => {
    const [asia] = (await napi.call('GET', '/content_caches', carol)).body
    expect((await napi.call('DELETE', `/content_caches/${asia.id}`, TEST_ADMIN)).status).toBe(204)
    expect((await net.api('GET', `/sites/${asia.id}`)).status).toBe(404)
    expect((await napi.call('GET', `/content_caches/${asia.id}`, carol)).status).toBe(404)
    expect((await napi.call('DELETE', `/content_caches/${asia.id}`, TEST_ADMIN)).status).toBe(204)
  })

  it('flags content caches as enabled in /meta/features', async () => {
    expect((await napi.call('GET', '/meta/features', carol)).body.contentCachesEnabled).toBe(true)
  })
})
