import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { beat, startNetwork, type Network } from './fixtures.ts'

let clock = Date.now()
let net: Network
beforeAll(async () => {
  net = await startNetwork({ now: () => clock })
})
afterAll(() => net.close())

const newToken = async (body: Record<string, unknown> = {}) => {
  const res = await net.api.call('POST', '/join-tokens', net.admin, body)
  expect(res.status).toBe(201)
  return res.body as { id: string; token: string; site: string | null; expiresAt: string; usesLeft: number }
}
const join = (token: string, body: Record<string, unknown>) =>
  net.api.call('POST', '/join', { bearer: token }, { version: '1.2.3', ...body })

describe('join tokens', () => {
  test('created with defaults; the token is shown only once', async () => {
    const t = await newToken()
    expect(t.token).toMatch(/^wharf_join_j_[0-9a-f]{16}_[0-9a-f]{64}$/)
    expect(t).toMatchObject({ site: null, usesLeft: 1 })
    expect(Date.parse(t.expiresAt) - clock).toBe(3600_000)
    const list = await net.api.call('GET', '/join-tokens', net.admin)
    const listed = list.body.joinTokens.find((x: { id: string }) => x.id === t.id)
    expect(listed).toMatchObject({ id: t.id, site: null, usesLeft: 1 })
    expect(JSON.stringify(list.body)).not.toContain(t.token)
  })

  test('bad options are 400s', async () => {
    for (const body of [{ uses: 0 }, { expiresIn: 31 * 86400 }, { expiresIn: 'soon' }, { site: 'ghost' }]) {
      const res = await net.api.call('POST', '/join-tokens', net.admin, body)
      expect([400, 404]).toContain(res.status)
    }
  })

  test('a token without a site creates one from the request, and is single use', async () => {
    const t = await newToken()
    const res = await join(t.token, { name: 'fresh', url: 'https://fresh.example.com/', region: 'r1', latitude: 1, longitude: 2 })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({
      site: { name: 'fresh', url: 'https://fresh.example.com', region: 'r1', latitude: 1, longitude: 2, health: { state: 'unknown' } },
      heartbeatIntervalMs: 10_000,
      metricsIntervalMs: 60_000,
    })
    expect(res.body.credential).toMatch(new RegExp(`^wharf_site_${res.body.site.id}_[0-9a-f]{64}$`))
    const again = await join(t.token, { name: 'fresh-2', url: 'https://fresh2.example.com' })
    expect(again.status).toBe(401)
    expect(again.body.error.message).toMatch(/no uses left/)
  })

  test('a new site needs a free name; a refused join takes no use', async () => {
    const t = await newToken()
    expect((await join(t.token, { url: 'https://n.example.com' })).status).toBe(400)
    const taken = await join(t.token, { name: 'fresh', url: 'https://n.example.com' })
    expect(taken.status).toBe(409)
    expect(taken.body.error.code).toBe('SITE_EXISTS')
    expect((await join(t.token, { name: 'fresh-ok', url: 'https://n.example.com' })).status).toBe(200)
  })

  test('an expired token is refused', async () => {
    const t = await newToken({ expiresIn: 60 })
    clock += 61_000
    const res = await join(t.token, { name: 'late', url: 'https://late.example.com' })
    expect(res.status).toBe(401)
    expect(res.body.error.message).toMatch(/expired/)
  })

  test('a revoked token is refused', async () => {
    const t = await newToken({ uses: 5 })
    expect((await net.api.call('DELETE', `/join-tokens/${t.id}`, net.admin)).status).toBe(204)
    expect((await join(t.token, { name: 'revoked', url: 'https://r.example.com' })).status).toBe(401)
    expect((await net.api.call('DELETE', `/join-tokens/${t.id}`, net.admin)).status).toBe(404)
  })

  test('a forged secret or no token is refused', async () => {
    const t = await newToken()
    // change the secret's last character for another one (a fixed '0' is no change when it already ends in 0)
    const forged = `${t.token.slice(0, -1)}${t.token.endsWith('0') ? '1' : '0'}`
    expect((await join(forged, { name: 'forged', url: 'https://f.example.com' })).status).toBe(401)
    expect((await net.api.call('POST', '/join', undefined, { name: 'x', url: 'https://x.example.com' })).status).toBe(401)
    expect((await net.api.call('POST', '/join', net.admin, { name: 'x', url: 'https://x.example.com' })).status).toBe(401)
  })

  test("a site-bound token gives that site's identity; the admin's fields win", async () => {
    const created = await net.api.call('POST', '/sites', net.admin, {
      name: 'bound',
      url: 'https://bound.example.com',
      region: 'admin-region',
    })
    const t = await newToken({ site: 'bound', uses: 2 })
    expect(t.site).toBe('bound')
    const res = await join(t.token, {
      name: 'ignored-name',
      url: 'https://node-says.example.com',
      region: 'node-region',
      latitude: 48.1,
      longitude: 11.6,
      networks: ['192.168.0.0/16'],
    })
    expect(res.status).toBe(200)
    expect(res.body.site).toMatchObject({
      id: created.body.id,
      name: 'bound',
      url: 'https://bound.example.com',
      region: 'admin-region',
      latitude: 48.1,
      longitude: 11.6,
      networks: ['192.168.0.0/16'],
    })
  })

  test('joining again rotates the credential: the old one stops working', async () => {
    const t = await newToken({ site: 'bound', uses: 2 })
    const first = (await join(t.token, {})).body
    const hb = (cred: string) => net.api.call('POST', `/sites/${first.site.id}/heartbeat`, { bearer: cred }, beat())
    expect((await hb(first.credential)).status).toBe(200)
    const second = (await join(t.token, {})).body
    expect(second.site.id).toBe(first.site.id)
    expect(second.credential).not.toBe(first.credential)
    expect((await hb(first.credential)).status).toBe(401)
    expect((await hb(second.credential)).status).toBe(200)
  })

  test('a site-bound token for a site without a url needs the node to give one', async () => {
    // an admin can only create a site with a url, so clear it
    await net.api.call('POST', '/sites', net.admin, { name: 'no-url', url: 'https://tmp.example.com' })
    await net.api.call('PATCH', '/sites/no-url', net.admin, { url: null })
    const t = await newToken({ site: 'no-url' })
    expect((await join(t.token, {})).status).toBe(400)
    const ok = await join(t.token, { url: 'https://filled.example.com' })
    expect(ok.status).toBe(200)
    expect(ok.body.site.url).toBe('https://filled.example.com')
  })
})
