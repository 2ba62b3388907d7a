import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiClient, createRepo, createUser, pushImage, type ApiClient, type TinyImage } from '../helpers/api.ts'
import { tokenFor, type Credentials } from '../helpers/auth.ts'
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

interface Ev {
  id: number
  at: string
  actor: string
  action: string
  targetType: string
  target: string
  address: string | null
  outcome: string
  detail: Record<string, unknown> | null
}
const events = async (query: string, who: Credentials = TEST_ADMIN): Promise<Ev[]> => {
  const res = await api.call('GET', `/events?${query}`, who)
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return res.body.events as Ev[]
}
const v2 = async (method: string, path: string, creds: Credentials, scope: string) => {
  const token = await tokenFor(origin.url, [scope], creds)
  return fetch(`${origin.url}/v2/${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.oci.image.manifest.v1+json' },
  })
}

describe('registry events', () => {
  let image: TinyImage

  it('records a push by tag with the digest and media type', async () => {
    const push = await pushImage(origin.url, 'alice/app', alice, 'v1')
    expect(push.status).toBe(201)
    image = push.image
    const [e] = await events('action=push')
    expect(e).toMatchObject({
      actor: 'alice',
      action: 'push',
      targetType: 'manifest',
      target: 'alice/app:v1',
      address: '127.0.0.1',
      outcome: 'success',
      detail: { digest: image.manifestDigest, mediaType: image.mediaType, tags: ['v1'] },
    })
  })

  it('records a pull for a manifest GET, by tag or by digest, but not for HEAD', async () => {
    expect((await v2('HEAD', 'alice/app/manifests/v1', alice, 'repository:alice/app:pull')).status).toBe(200)
    expect(await events('action=pull')).toEqual([])
    expect((await v2('GET', 'alice/app/manifests/v1', alice, 'repository:alice/app:pull')).status).toBe(200)
    expect(
      (await v2('GET', `alice/app/manifests/${image.manifestDigest}`, alice, 'repository:alice/app:pull')).status,
    ).toBe(200)
    const pulls = await events('action=pull')
    expect(pulls.map((e) => e.target)).toEqual([`alice/app@${image.manifestDigest}`, 'alice/app:v1'])
    expect(pulls[1]).toMatchObject({
      actor: 'alice',
      detail: { digest: image.manifestDigest, mediaType: image.mediaType },
    })
  })

  it('records no pull when the manifest is not there', async () => {
    expect((await v2('GET', 'alice/app/manifests/nope', alice, 'repository:alice/app:pull')).status).toBe(404)
    expect(await events('action=pull&target=alice/app:nope')).toEqual([])
  })

  it('records manifest and blob deletes', async () => {
    expect((await v2('DELETE', 'alice/app/manifests/v1', alice, 'repository:alice/app:delete')).status).toBe(202)
    const layer = image.digest(image.blobs[0]!)
    expect((await v2('DELETE', `alice/app/blobs/${layer}`, alice, 'repository:alice/app:delete')).status).toBe(202)
    const deletes = await events('action=delete')
    expect(deletes.map((e) => [e.targetType, e.target, e.actor])).toEqual([
      ['blob', `alice/app@${layer}`, 'alice'],
      ['manifest', 'alice/app:v1', 'alice'],
    ])
  })

  it('records each token issued with the scope it granted', async () => {
    const [e] = await events('action=token.issue&actor=alice&limit=1')
    expect(e!.detail).toMatchObject({ granted: [{ type: 'repository', name: 'alice/app', actions: ['delete'] }] })
  })
})

describe('GET /api/v0/events filters', () => {
  it('filter by actor, action, target type and exact target', async () => {
    await createRepo(api, alice, 'alice/one')
    await createRepo(api, bob, 'bob/one')
    expect((await events('actor=bob&action=repository.create')).map((e) => e.target)).toEqual(['bob/one'])
    expect((await events('targetType=repository&target=alice/one')).map((e) => e.action)).toEqual(['repository.create'])
    expect(await events('target=alice/on')).toEqual([])
  })

  it('match a target prefix when it ends with *, and treat % and _ literally', async () => {
    await createRepo(api, alice, 'alice/one_x')
    const targets = (await events('action=repository.create&target=alice/one*')).map((e) => e.target)
    expect(targets).toEqual(['alice/one_x', 'alice/one'])
    expect(await events('action=repository.create&target=alice/one%25*')).toEqual([])
    expect((await events('action=repository.create&target=alice/one_*')).map((e) => e.target)).toEqual(['alice/one_x'])
  })

  it('take since and until as ISO times or epoch milliseconds', async () => {
    await createRepo(api, alice, 'alice/early')
    await new Promise((r) => setTimeout(r, 25))
    const cut = Date.now()
    await new Promise((r) => setTimeout(r, 25))
    await createRepo(api, alice, 'alice/late')
    const q = 'action=repository.create&target=alice/*'
    expect((await events(`${q}&since=${cut}`)).map((e) => e.target)).toEqual(['alice/late'])
    expect((await events(`${q}&since=${new Date(cut).toISOString()}`)).map((e) => e.target)).toEqual(['alice/late'])
    expect((await events(`${q}&until=${new Date(cut).toISOString()}`)).map((e) => e.target)).toContain('alice/early')
    expect((await events(`${q}&until=${cut}`)).map((e) => e.target)).not.toContain('alice/late')
    const bad = await api.call('GET', '/events?since=yesterday', TEST_ADMIN)
    expect(bad.status).toBe(400)
    expect(bad.body.error.message).toMatch(/since must be an ISO 8601 time/)
  })

  it('page newest first with limit and the before cursor', async () => {
    for (let i = 0; i < 5; i++) await createRepo(api, bob, `bob/page-${i}`)
    const seen: string[] = []
    let query = 'action=repository.create&target=bob/page-*&limit=2'
    for (let n = 0; n < 10; n++) {
      const res = await api.call('GET', `/events?${query}`, TEST_ADMIN)
      expect(res.body.events.length).toBeLessThanOrEqual(2)
      seen.push(...res.body.events.map((e: Ev) => e.target))
      if (res.body.next === null) break
      query = `action=repository.create&target=bob/page-*&limit=2&before=${res.body.next}`
    }
    expect(seen).toEqual(['bob/page-4', 'bob/page-3', 'bob/page-2', 'bob/page-1', 'bob/page-0'])
    expect((await api.call('GET', '/events?before=abc', TEST_ADMIN)).status).toBe(400)
    expect((await api.call('GET', '/events?limit=0', TEST_ADMIN)).status).toBe(400)
  })
})

describe('who reads events', () => {
  it('users read their own events only; naming another actor is 403', async () => {
    const own = await events('', bob)
    expect(own.length).toBeGreaterThan(0)
    expect(new Set(own.map((e) => e.actor))).toEqual(new Set(['bob']))
    expect((await api.call('GET', '/events?actor=alice', bob)).status).toBe(403)
    expect(
      (await api.call('GET', '/events?actor=bob&action=repository.create', bob)).body.events.length,
    ).toBeGreaterThan(0)
  })

  it('anonymous callers read nothing', async () => {
    expect((await api.call('GET', '/events')).status).toBe(401)
  })

  it("admins read everyone's", async () => {
    const actors = new Set((await events('limit=500')).map((e) => e.actor))
    for (const a of ['admin', 'alice', 'bob']) expect(actors.has(a), a).toBe(true)
  })
})
