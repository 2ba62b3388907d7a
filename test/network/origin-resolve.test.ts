import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createOrg, createRepo, createUser, pushImage, type TinyImage } from '../helpers/api.ts'
import type { Credentials } from '../helpers/auth.ts'
import { site } from '../helpers/fake-control-plane-resolver.ts'
import { startOriginWithControlPlane, type OriginWithControlPlane } from '../helpers/origin-with-control-plane.ts'
import { http, type HttpAuth } from '../helpers/registry-http.ts'
import { TEST_ADMIN } from '../helpers/start-origin.ts'

const edge = site('edge-1', 'http://edge-1.example')
const logLines: Record<string, unknown>[] = []

let net: OriginWithControlPlane
let alice: Credentials
let bob: Credentials
let image: TinyImage

const layerDigest = () => image.digest(image.blobs[0]!)

/** A pull of the public image's layer, seemingly from `address` (through the trusted proxy 10.0.0.1). */
function pull(auth: HttpAuth, address?: string, base = net.origin.url) {
  const headers: Record<string, string> = address ? { 'x-forwarded-for': `${address}, 10.0.0.1` } : {}
  return http('GET', `${base}/v2/acme/pub/blobs/${layerDigest()}`, { auth, headers })
}

const resolveCount = () => net.fake.resolves().length

beforeAll(async () => {
  net = await startOriginWithControlPlane({ sites: [edge], env: { ORIGIN_TRUSTED_PROXIES: '127.0.0.1/32, 10.0.0.0/8' }, logLines })
  const { api } = net
  alice = await createUser(api, TEST_ADMIN, 'alice')
  bob = await createUser(api, TEST_ADMIN, 'bob')
  await createOrg(api, TEST_ADMIN, 'acme', 'alice')
  await createOrg(api, TEST_ADMIN, 'beta')
  expect((await api.call('PUT', '/orgs/beta/members/alice', TEST_ADMIN, { isOwner: false })).status).toBe(200)
  for (const [org, team] of [['acme', 'devs'], ['beta', 'ops'], ['beta', 'qa']] as const) {
    expect((await api.call('POST', `/orgs/${org}/teams`, TEST_ADMIN, { name: team })).status).toBe(201)
  }
  for (const [org, team] of [['acme', 'devs'], ['beta', 'ops']] as const) {
    expect((await api.call('PUT', `/orgs/${org}/teams/${team}/members/alice`, TEST_ADMIN)).status).toBe(204)
  }
  await createRepo(api, TEST_ADMIN, 'acme/pub', 'public')
  const pushed = await pushImage(net.origin.url, 'acme/pub', TEST_ADMIN)
  expect(pushed.status, pushed.text).toBe(201)
  image = pushed.image
  net.fake.fallback = 'edge-1'
})
afterAll(async () => {
  await net?.close()
})

describe('what the resolver is told', () => {
  it("sends the user's teams, organizations and address", async () => {
    const res = await pull(alice, '203.0.113.7')
    expect(res.status).toBe(307)
    expect(net.fake.resolves().at(-1)).toEqual({
      user: 'alice',
      teams: ['acme/devs', 'beta/ops'],
      orgs: ['acme', 'beta'],
      address: '203.0.113.7',
    })
  })

  it('resolves an anonymous pull of a public repository by address, with an empty subject in the grant', async () => {
    const res = await pull('anonymous', '203.0.113.8')
    expect(res.status).toBe(307)
    expect(net.fake.resolves().at(-1)).toEqual({ user: '', teams: [], orgs: [], address: '203.0.113.8' })
    const grant = new URL(res.headers.location!).searchParams.get('grant')!
    expect(JSON.parse(Buffer.from(grant.split('.')[1]!, 'base64url').toString())).toMatchObject({ sub: '', repository: 'acme/pub' })
  })

  it('serves the blob itself when the control plane answers no site', async () => {
    net.fake.fallback = null
    try {
      const res = await pull(bob, '203.0.113.9')
      expect(res.status).toBe(200)
      expect(res.body.equals(image.blobs[0]!)).toBe(true)
    } finally {
      net.fake.fallback = 'edge-1'
    }
  })
})

describe('trusted proxies', () => {
  it('takes the rightmost X-Forwarded-For entry that is not a trusted proxy', async () => {
    const cases: [string, string][] = [
      ['6.6.6.6, 198.51.100.20, 10.1.2.3', '198.51.100.20'],
      ['10.0.0.9, 10.0.0.8', '10.0.0.9'],
      ['198.51.100.21, not-an-address', '127.0.0.1'],
      ['[2001:db8::1]:4711, 10.0.0.2', '2001:db8::1'],
      ['::ffff:198.51.100.22', '198.51.100.22'],
    ]
    for (const [xff, address] of cases) {
      const res = await http('GET', `${net.origin.url}/v2/acme/pub/blobs/${layerDigest()}`, {
        auth: bob,
        headers: { 'x-forwarded-for': xff },
      })
      expect(res.status, xff).toBe(307)
      expect(net.fake.resolves().at(-1)!.address, xff).toBe(address)
    }
  })

  it('records the forwarded address on events too', async () => {
    const res = await fetch(`${net.origin.url}/auth/token?service=${net.origin.host}&scope=repository:acme/pub:pull`, {
      headers: {
        authorization: `Basic ${Buffer.from(`${bob.username}:${bob.password}`).toString('base64')}`,
        'x-forwarded-for': '192.0.2.44',
      },
    })
    expect(res.status).toBe(200)
    const events = await net.api.call('GET', '/events?action=token.issue&actor=bob&limit=1', TEST_ADMIN)
    expect(events.body.events[0]).toMatchObject({ actor: 'bob', address: '192.0.2.44' })
  })

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    const untrusted = await startOriginWithControlPlane({ sites: [edge], env: { ORIGIN_TRUSTED_PROXIES: '10.0.0.0/8' } })
    try {
      untrusted.fake.fallback = 'edge-1'
      await createRepo(untrusted.api, TEST_ADMIN, 'admin/pub', 'public')
      const pushed = await pushImage(untrusted.origin.url, 'admin/pub', TEST_ADMIN)
      expect(pushed.status).toBe(201)
      const digest = pushed.image.digest(pushed.image.blobs[0]!)
      const res = await http('GET', `${untrusted.origin.url}/v2/admin/pub/blobs/${digest}`, {
        auth: 'anonymous',
        headers: { 'x-forwarded-for': '203.0.113.50' },
      })
      expect(res.status).toBe(307)
      expect(untrusted.fake.resolves().at(-1)!.address).toBe('127.0.0.1')
    } finally {
      await untrusted.close()
    }
  })
})

describe('answers are cached', () => {
  it('for ORIGIN_ASSIGNMENT_TTL (10 s), per user and address', async () => {
    const before = resolveCount()
    expect((await pull(bob, '198.51.100.1')).status).toBe(307)
    expect((await pull(bob, '198.51.100.1')).status).toBe(307)
    expect(resolveCount()).toBe(before + 1)
    net.advance(9_000)
    expect((await pull(bob, '198.51.100.1')).status).toBe(307)
    expect(resolveCount()).toBe(before + 1)
    // another address, another user: other answers
    expect((await pull(bob, '198.51.100.2')).status).toBe(307)
    expect((await pull(alice, '198.51.100.1')).status).toBe(307)
    expect(resolveCount()).toBe(before + 3)
    net.advance(2_000)
    expect((await pull(bob, '198.51.100.1')).status).toBe(307)
    expect(resolveCount()).toBe(before + 4)
  })

  it('and a changed assignment shows once the answer expires', async () => {
    net.fake.fallback = null
    try {
      // answered (edge-1) and cached by the test above
      expect((await pull(bob, '198.51.100.1')).status).toBe(307)
      net.advance(10_001)
      expect((await pull(bob, '198.51.100.1')).status).toBe(200)
    } finally {
      net.fake.fallback = 'edge-1'
    }
  })
})

describe('an unavailable control plane', () => {
  it('down: the origin serves the blob, asks nothing for 5 s, then asks again', async () => {
    net.fake.mode = 'down'
    const before = resolveCount()
    const first = await pull(bob, '192.0.2.1')
    expect(first.status).toBe(200)
    expect(first.body.equals(image.blobs[0]!)).toBe(true)
    expect(resolveCount()).toBe(before + 1)
    expect((await pull(alice, '192.0.2.2')).status).toBe(200)
    net.advance(4_000)
    expect((await pull(bob, '192.0.2.3')).status).toBe(200)
    expect(resolveCount()).toBe(before + 1)
    net.fake.mode = 'up'
    net.advance(1_500)
    expect((await pull(bob, '192.0.2.4')).status).toBe(307)
    expect(resolveCount()).toBe(before + 2)
    const warn = logLines.find((l) => l.level === 40 && l.msg === 'control plane unavailable: serving blobs from the origin')
    expect(warn).toMatchObject({ component: 'control-plane' })
  })

  it('slow (2 s, past the 1 s timeout): the origin serves the blob', async () => {
    net.advance(6_000)
    net.fake.mode = 'slow'
    try {
      const res = await pull(bob, '192.0.2.10')
      expect(res.status).toBe(200)
      expect(res.body.equals(image.blobs[0]!)).toBe(true)
      expect(net.fake.requests.at(-1)!.outcome).toBe('slow')
    } finally {
      net.fake.mode = 'up'
      net.advance(6_000)
    }
    expect((await pull(bob, '192.0.2.11')).status).toBe(307)
  })

  it('refusing the origin (401): the origin serves the blob', async () => {
    net.advance(6_000)
    net.fake.trust('http://another-origin.example')
    try {
      expect((await pull(bob, '192.0.2.20')).status).toBe(200)
      expect(net.fake.requests.at(-1)!.outcome).toBe('refused')
    } finally {
      net.fake.trust(net.origin.url)
      net.advance(6_000)
    }
    expect((await pull(bob, '192.0.2.21')).status).toBe(307)
  })
})
