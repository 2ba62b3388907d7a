import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiClient, createOrg, createRepo, createUser, type ApiClient } from '../helpers/api.ts'
import { decodeAccess, getToken, type Credentials } from '../helpers/auth.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'

let origin: Awaited<ReturnType<typeof startOrigin>>
let api: ApiClient
let owner: Credentials
let member: Credentials

beforeAll(async () => {
  origin = await startOrigin()
  api = apiClient(origin.url)
  owner = await createUser(api, TEST_ADMIN, 'olga')
  member = await createUser(api, TEST_ADMIN, 'mike')
  await createOrg(api, TEST_ADMIN, 'acme', 'olga')
  await api.call('PUT', '/orgs/acme/members/mike', owner)
  for (const repo of ['acme/app', 'acme/web', 'acme/tools/lint']) await createRepo(api, owner, repo)
})
afterAll(async () => {
  await origin?.close()
})

describe('POST /api/v0/namespaces/:namespace/robots', () => {
  it('creates a robot that may do exactly what its list says, and returns its secret once', async () => {
    const res = await api.call('POST', '/namespaces/acme/robots', owner, {
      name: 'ci',
      description: 'builds',
      permissions: [
        { repository: 'acme/app', actions: ['push', 'pull'] },
        { repository: 'acme/tools/*', actions: ['pull'] },
      ],
    })
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({
      name: 'robot$acme+ci',
      namespace: 'acme',
      description: 'builds',
      createdBy: 'olga',
      expiresAt: null,
      lastUsedAt: null,
      permissions: [
        { repository: 'acme/app', actions: ['pull', 'push'] },
        { repository: 'acme/tools/*', actions: ['pull'] },
      ],
    })
    expect(res.body.secret).toMatch(/^[\w-]{43}$/)
    const robot = { username: res.body.name, password: res.body.secret }
    const t = await getToken(
      origin.url,
      ['repository:acme/app:pull,push,delete', 'repository:acme/web:pull', 'repository:acme/tools/lint:pull,push'],
      robot,
    )
    expect(t.status).toBe(200)
    expect(decodeAccess(t.body.token as string)).toEqual([
      { type: 'repository', name: 'acme/app', actions: ['pull', 'push'] },
      { type: 'repository', name: 'acme/tools/lint', actions: ['pull'] },
    ])
    const got = await api.call('GET', '/namespaces/acme/robots/ci', owner)
    expect(got.body).not.toHaveProperty('secret')
    expect(got.body.lastUsedAt).not.toBeNull()
    expect(JSON.stringify((await api.call('GET', '/namespaces/acme/robots', owner)).body)).not.toContain(
      res.body.secret,
    )
  })

  it('refuses permissions outside the namespace, unknown actions, duplicates and empty lists with 400', async () => {
    const cases = [
      [{ repository: 'other/app', actions: ['pull'] }],
      [{ repository: 'acme', actions: ['pull'] }],
      [{ repository: 'acmeish/app', actions: ['pull'] }],
      [{ repository: 'acme/app', actions: ['admin'] }],
      [{ repository: 'acme/app', actions: [] }],
      [
        { repository: 'acme/app', actions: ['pull'] },
        { repository: 'acme/app', actions: ['push'] },
      ],
      [],
      [{ repository: 'acme/app' }],
    ]
    for (const permissions of cases) {
      const res = await api.call('POST', '/namespaces/acme/robots', owner, { name: 'bad', permissions })
      expect(res.status, JSON.stringify(permissions)).toBe(400)
      expect(res.body.error.code).toBe('BAD_REQUEST')
    }
    expect((await api.call('GET', '/namespaces/acme/robots/bad', owner)).status).toBe(404)
  })

  it('refuses a bad name, a taken name and a past expiry', async () => {
    const perms = [{ repository: 'acme/app', actions: ['pull'] }]
    expect(
      (await api.call('POST', '/namespaces/acme/robots', owner, { name: 'Bad+Name', permissions: perms })).status,
    ).toBe(400)
    expect((await api.call('POST', '/namespaces/acme/robots', owner, { name: 'ci', permissions: perms })).status).toBe(
      409,
    )
    expect(
      (await api.call('POST', '/namespaces/acme/robots', owner, { name: 'late', permissions: perms, expiresAt: 1000 }))
        .status,
    ).toBe(400)
  })

  it('is for those who administer the namespace: members, other users and anonymous callers are refused', async () => {
    const perms = [{ repository: 'acme/app', actions: ['pull'] }]
    expect((await api.call('POST', '/namespaces/acme/robots', member, { name: 'm', permissions: perms })).status).toBe(
      403,
    )
    expect((await api.call('GET', '/namespaces/acme/robots', member)).status).toBe(403)
    expect(
      (await api.call('POST', '/namespaces/acme/robots', undefined, { name: 'm', permissions: perms })).status,
    ).toBe(401)
    expect(
      (
        await api.call('POST', '/namespaces/nope/robots', TEST_ADMIN, {
          name: 'm',
          permissions: [{ repository: 'nope/x', actions: ['pull'] }],
        })
      ).status,
    ).toBe(404)
    const own = await api.call('POST', '/namespaces/mike/robots', member, {
      name: 'mine',
      permissions: [{ repository: 'mike/*', actions: ['pull', 'push'] }],
    })
    expect(own.status).toBe(201)
    expect(
      (await api.call('POST', '/namespaces/acme/robots', TEST_ADMIN, { name: 'by-admin', permissions: perms })).status,
    ).toBe(201)
  })

  it('records robot.create with the permissions and no secret', async () => {
    const events = await api.call('GET', '/events?action=robot.create&target=robot$acme%2Bci', TEST_ADMIN)
    expect(events.body.events).toHaveLength(1)
    expect(events.body.events[0]).toMatchObject({
      actor: 'olga',
      detail: { permissions: [{ repository: 'acme/app' }, { repository: 'acme/tools/*' }], expiresAt: null },
    })
  })
})

describe('robots and the API', () => {
  it('may not manage anything through /api/v0', async () => {
    const r = await api.call('POST', '/namespaces/acme/robots', owner, {
      name: 'nosy',
      permissions: [{ repository: 'acme/*', actions: ['pull', 'push', 'delete'] }],
    })
    const robot = { username: r.body.name, password: r.body.secret }
    const res = await api.call('POST', '/repositories', robot, { name: 'acme/new' })
    expect(res.status).toBe(403)
    expect(res.body.error.message).toMatch(/robot/)
    expect((await api.call('GET', '/namespaces/acme/robots', robot)).status).toBe(403)
    // but it sees the repositories it may pull
    expect(
      (await api.call('GET', '/repositories', robot)).body.repositories.map((x: { name: string }) => x.name),
    ).toEqual(['acme/app', 'acme/tools/lint', 'acme/web'])
  })
})

describe('DELETE /api/v0/namespaces/:namespace/robots/:name', () => {
  it('deletes the robot: its secret stops working', async () => {
    const r = await api.call('POST', '/namespaces/acme/robots', owner, {
      name: 'temp',
      permissions: [{ repository: 'acme/app', actions: ['pull'] }],
    })
    const robot = { username: r.body.name, password: r.body.secret }
    expect((await getToken(origin.url, [], robot)).status).toBe(200)
    expect((await api.call('DELETE', '/namespaces/acme/robots/temp', member)).status).toBe(403)
    expect((await api.call('DELETE', '/namespaces/acme/robots/temp', owner)).status).toBe(204)
    expect((await api.call('DELETE', '/namespaces/acme/robots/temp', owner)).status).toBe(404)
    expect((await getToken(origin.url, [], robot)).status).toBe(401)
    const events = await api.call('GET', '/events?action=robot.delete', TEST_ADMIN)
    expect(events.body.events[0]).toMatchObject({ actor: 'olga', target: 'robot$acme+temp' })
  })
})
