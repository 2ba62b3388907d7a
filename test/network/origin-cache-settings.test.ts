import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiClient, createOrg, createUser } from '../helpers/api.ts'
import type { Credentials } from '../helpers/auth.ts'
import { site } from '../helpers/fake-control-plane-resolver.ts'
import { startOriginWithControlPlane, type OriginWithControlPlane } from '../helpers/origin-with-control-plane.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'

const edge = site('edge-1', 'http://edge-1.example', { region: 'eu-west' })
const east = site('edge-east', 'http://edge-east.example', {
  region: 'us-east',
  health: { state: 'down', since: '2026-01-01T00:00:00.000Z', lastHeartbeatAt: '2026-01-01T00:00:00.000Z' },
})

let net: OriginWithControlPlane
let alice: Credentials
let bob: Credentials

beforeAll(async () => {
  net = await startOriginWithControlPlane({ sites: [edge, east] })
  alice = await createUser(net.api, TEST_ADMIN, 'alice')
  bob = await createUser(net.api, TEST_ADMIN, 'bob')
  await createOrg(net.api, TEST_ADMIN, 'acme', 'alice')
})
afterAll(async () => {
  await net?.close()
})

describe('GET /api/v0/caches', () => {
  it('lists the sites for any signed-in user', async () => {
    const res = await net.api.call('GET', '/caches', bob)
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.body).toEqual({
      caches: [
        { id: edge.id, name: 'edge-1', url: 'http://edge-1.example', region: 'eu-west', health: edge.health },
        { id: east.id, name: 'edge-east', url: 'http://edge-east.example', region: 'us-east', health: east.health },
      ],
    })
  })

  it('is 401 for an anonymous caller', async () => {
    const res = await net.api.call('GET', '/caches')
    expect(res.status).toBe(401)
    expect(res.body.error.code).toBe('UNAUTHORIZED')
  })

  it('is 503 when the control plane is unreachable', async () => {
    net.fake.mode = 'down'
    try {
      const res = await net.api.call('GET', '/caches', bob)
      expect(res.status).toBe(503)
      expect(res.body.error.code).toBe('UNAVAILABLE')
    } finally {
      net.fake.mode = 'up'
    }
  })
})

describe('/api/v0/accounts/{name}/settings', () => {
  it('starts with no cache site: pulls go where the rules send them', async () => {
    const res = await net.api.call('GET', '/accounts/alice/settings', alice)
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ cacheSite: null, ContentCacheUUID: '', effectiveCache: { site: null, rule: 'origin' } })
  })

  it('lets users choose their own cache site, which becomes their control plane assignment', async () => {
    const res = await net.api.call('PATCH', '/accounts/alice/settings', alice, { cacheSite: 'edge-1' })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    expect(res.body).toEqual({ cacheSite: 'edge-1', ContentCacheUUID: edge.id, effectiveCache: { site: 'edge-1', rule: 'user' } })
    expect(net.fake.assignments.get('alice')).toBe('edge-1')
    const put = net.fake.requests.find((r) => r.method === 'PUT')!
    expect(put).toMatchObject({ path: '/api/v0/assignments/user/alice', body: { site: 'edge-1' }, outcome: 'ok' })
    expect((await net.api.call('GET', '/accounts/alice/settings', alice)).body.cacheSite).toBe('edge-1')
    const events = await net.api.call('GET', '/events?action=account.settings.update&target=alice', TEST_ADMIN)
    expect(events.body.events[0]).toMatchObject({
      actor: 'alice',
      targetType: 'account',
      target: 'alice',
      detail: { cacheSite: { from: null, to: 'edge-1' } },
    })
  })

  it('shows a chosen site that is down as not in effect', async () => {
    // a site that is down is a valid choice; the control plane's rules then pass it over
    const res = await net.api.call('PATCH', '/accounts/alice/settings', alice, { cacheSite: 'edge-east' })
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ cacheSite: 'edge-east', ContentCacheUUID: east.id, effectiveCache: { site: null, rule: 'origin' } })
  })

  it('lets an admin read and change any user’s setting, and clear it', async () => {
    expect((await net.api.call('GET', '/accounts/alice/settings', TEST_ADMIN)).body.cacheSite).toBe('edge-east')
    const res = await net.api.call('PATCH', '/accounts/alice/settings', TEST_ADMIN, { cacheSite: null })
    expect(res.status).toBe(200)
    expect(res.body.cacheSite).toBeNull()
    expect(net.fake.assignments.has('alice')).toBe(false)
    const events = await net.api.call('GET', '/events?action=account.settings.update&target=alice&limit=1', TEST_ADMIN)
    expect(events.body.events[0]).toMatchObject({ actor: 'admin', detail: { cacheSite: { from: 'edge-east', to: null } } })
    // clearing again is no change and no event
    expect((await net.api.call('PATCH', '/accounts/alice/settings', TEST_ADMIN, { cacheSite: null })).status).toBe(200)
    const again = await net.api.call('GET', '/events?action=account.settings.update&target=alice', TEST_ADMIN)
    expect(again.body.events).toHaveLength(3)
  })

  it("refuses another user's settings (403)", async () => {
    const get = await net.api.call('GET', '/accounts/alice/settings', bob)
    expect(get.status).toBe(403)
    const patch = await net.api.call('PATCH', '/accounts/alice/settings', bob, { cacheSite: 'edge-1' })
    expect(patch.status).toBe(403)
    expect(patch.body.error.code).toBe('FORBIDDEN')
    expect(net.fake.assignments.has('alice')).toBe(false)
  })

  it('refuses an unknown site (400 INVALID_USER_SETTINGS) and bad bodies (400)', async () => {
    const res = await net.api.call('PATCH', '/accounts/bob/settings', bob, { cacheSite: 'nowhere' })
    expect(res.status).toBe(400)
    expect(res.body.error.code).toBe('INVALID_USER_SETTINGS')
    expect(net.fake.assignments.has('bob')).toBe(false)
    for (const body of [{}, { cacheSite: 5 }, { cacheSite: 'edge-1', other: true }]) {
      const bad = await net.api.call('PATCH', '/accounts/bob/settings', bob, body)
      expect(bad.status, JSON.stringify(body)).toBe(400)
      expect(bad.body.error.code).toBe('BAD_REQUEST')
    }
  })

  it('accepts a site id and stores the name', async () => {
    const res = await net.api.call('PATCH', '/accounts/bob/settings', bob, { cacheSite: edge.id })
    expect(res.status).toBe(200)
    expect(res.body.cacheSite).toBe('edge-1')
    expect(net.fake.assignments.get('bob')).toBe('edge-1')
  })

  it('has no settings for organizations (400) and 404 for unknown accounts', async () => {
    const org = await net.api.call('PATCH', '/accounts/acme/settings', TEST_ADMIN, { cacheSite: 'edge-1' })
    expect(org.status).toBe(400)
    expect((await net.api.call('GET', '/accounts/acme/settings', TEST_ADMIN)).status).toBe(400)
    expect((await net.api.call('GET', '/accounts/nobody/settings', TEST_ADMIN)).status).toBe(404)
    expect((await net.api.call('GET', '/accounts/alice/settings')).status).toBe(401)
  })

  it('is 503 while the control plane is unreachable', async () => {
    net.fake.mode = 'down'
    try {
      expect((await net.api.call('GET', '/accounts/bob/settings', bob)).status).toBe(503)
      expect((await net.api.call('PATCH', '/accounts/bob/settings', bob, { cacheSite: null })).status).toBe(503)
    } finally {
      net.fake.mode = 'up'
    }
  })
})

describe('without a control plane', () => {
  it('answers 503 for caches and settings', async () => {
    const origin = await startOrigin()
    try {
      const api = apiClient(origin.url)
      const caches = await api.call('GET', '/caches', TEST_ADMIN)
      expect(caches.status).toBe(503)
      expect(caches.body.error.code).toBe('UNAVAILABLE')
      expect((await api.call('GET', '/accounts/admin/settings', TEST_ADMIN)).status).toBe(503)
      expect((await api.call('PATCH', '/accounts/admin/settings', TEST_ADMIN, { cacheSite: null })).status).toBe(503)
    } finally {
      await origin.close()
    }
  })
})
