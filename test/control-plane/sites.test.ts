import { Readable } from 'node:stream'
import { Client } from 'undici'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startNetwork, type Network } from './fixtures.ts'

let net: Network
beforeAll(async () => {
  net = await startNetwork()
})
afterAll(() => net.close())

describe('sites', () => {
  test('create, read by id or name, update, delete', async () => {
    const created = await net.api.call('POST', '/sites', net.admin, {
      name: 'eu-west',
      url: 'https://cache-eu.example.com',
      region: 'eu-west-1',
      latitude: 53.35,
      longitude: -6.26,
      networks: ['10.10.0.0/16'],
      capacityBytes: 500 * 2 ** 30,
    })
    expect(created.status).toBe(201)
    const site = created.body
    expect(site).toMatchObject({
      name: 'eu-west',
      url: 'https://cache-eu.example.com',
      region: 'eu-west-1',
      networks: ['10.10.0.0/16'],
      parent: null,
      isDefault: false,
      caCertificate: null,
      health: { state: 'unknown', since: null, lastHeartbeatAt: null },
      stats: null,
    })
    expect(site.id).toMatch(/^s_[0-9a-f]{16}$/)
    expect(Date.parse(site.createdAt)).toBeGreaterThan(0)

    expect((await net.api.call('GET', `/sites/${site.id}`, net.admin)).body.name).toBe('eu-west')
    expect((await net.api.call('GET', '/sites/eu-west', net.admin)).body.id).toBe(site.id)

    const patched = await net.api.call('PATCH', '/sites/eu-west', net.admin, { region: 'dublin', isDefault: true })
    expect(patched.status).toBe(200)
    expect(patched.body).toMatchObject({ region: 'dublin', isDefault: true, url: 'https://cache-eu.example.com' })

    const list = await net.api.call('GET', '/sites', net.admin)
    expect(list.body.sites.map((s: { name: string }) => s.name)).toContain('eu-west')

    expect((await net.api.call('DELETE', `/sites/${site.id}`, net.admin)).status).toBe(204)
    expect((await net.api.call('GET', '/sites/eu-west', net.admin)).status).toBe(404)
    expect((await net.api.call('DELETE', '/sites/eu-west', net.admin)).status).toBe(404)
  })

  test.each([
    [{ url: 'https://x.example.com' }, /name is required/],
    [{ name: 'x' }, /url is required/],
    [{ name: 'UPPER', url: 'https://x.example.com' }, /name must be/],
    [{ name: 'x', url: 'https://x.example.com/v2/' }, /url must be/],
    [{ name: 'x', url: 'https://x.example.com', latitude: 91, longitude: 0 }, /latitude must be/],
    [{ name: 'x', url: 'https://x.example.com', longitude: 10 }, /latitude and longitude go together/],
    [{ name: 'x', url: 'https://x.example.com', networks: ['not-a-cidr'] }, /networks\[0\] must be a CIDR/],
    [{ name: 'x', url: 'https://x.example.com', parent: 'ghost' }, /parent "ghost" is not a site/],
    [{ name: 'x', url: 'https://x.example.com', capacityBytes: -1 }, /capacityBytes must be/],
    [{ name: 'x', url: 'https://x.example.com', caCertificate: 'hello' }, /PEM certificate/],
    [{ name: 'x', url: 'https://x.example.com', extra: 1 }, /unknown field extra; expected name, url, region/],
  ])('POST /sites %j is a 400', async (body, message) => {
    const res = await net.api.call('POST', '/sites', net.admin, body)
    expect(res.status).toBe(400)
    expect(res.body.error.code).toBe('BAD_REQUEST')
    expect(res.body.error.message).toMatch(message)
  })

  test('a body that is not JSON is a 400', async () => {
    const res = await net.api.call('POST', '/sites', net.admin, '{nope')
    expect(res.status).toBe(400)
  })

  test('a taken name is 409 SITE_EXISTS, also on rename', async () => {
    await net.api.call('POST', '/sites', net.admin, { name: 'taken', url: 'https://taken.example.com' })
    await net.api.call('POST', '/sites', net.admin, { name: 'other', url: 'https://other.example.com' })
    const again = await net.api.call('POST', '/sites', net.admin, { name: 'taken', url: 'https://t2.example.com' })
    expect(again.status).toBe(409)
    expect(again.body.error.code).toBe('SITE_EXISTS')
    expect((await net.api.call('PATCH', '/sites/other', net.admin, { name: 'taken' })).status).toBe(409)
  })

  test('a PATCH that makes a parent loop is refused; the chain is otherwise kept', async () => {
    await net.api.call('POST', '/sites', net.admin, { name: 'p-root', url: 'https://p-root.example.com' })
    await net.api.call('POST', '/sites', net.admin, { name: 'p-mid', url: 'https://p-mid.example.com', parent: 'p-root' })
    await net.api.call('POST', '/sites', net.admin, { name: 'p-leaf', url: 'https://p-leaf.example.com', parent: 'p-mid' })
    const loop = await net.api.call('PATCH', '/sites/p-root', net.admin, { parent: 'p-leaf' })
    expect(loop.status).toBe(400)
    expect(loop.body.error.message).toMatch(/loop/)
    expect((await net.api.call('GET', '/sites/p-root', net.admin)).body.parent).toBeNull()
    // removing a parent leaves its children pointing at the origin
    await net.api.call('DELETE', '/sites/p-mid', net.admin)
    expect((await net.api.call('GET', '/sites/p-leaf', net.admin)).body.parent).toBeNull()
  })

  test('deleting a site removes its assignments and join tokens', async () => {
    await net.api.call('POST', '/sites', net.admin, { name: 'doomed', url: 'https://doomed.example.com' })
    await net.api.call('PUT', '/assignments/user/dora', net.admin, { site: 'doomed' })
    const jt = await net.api.call('POST', '/join-tokens', net.admin, { site: 'doomed' })
    await net.api.call('DELETE', '/sites/doomed', net.admin)
    expect((await net.api.call('GET', '/assignments/user/dora', net.admin)).status).toBe(404)
    const tokens = await net.api.call('GET', '/join-tokens', net.admin)
    expect(tokens.body.joinTokens.map((t: { id: string }) => t.id)).not.toContain(jt.body.id)
    expect((await net.api.call('POST', '/join', { bearer: jt.body.token }, { url: 'https://d.example.com' })).status).toBe(401)
  })
})

describe('assignments and networks', () => {
  test('PUT, GET, list and DELETE assignments of each kind', async () => {
    await net.api.call('POST', '/sites', net.admin, { name: 'asg', url: 'https://asg.example.com' })
    for (const [kind, subject] of [['user', 'alice'], ['team', 'acme/devs'], ['org', 'acme']] as const) {
      const put = await net.api.call('PUT', `/assignments/${kind}/${subject}`, net.admin, { site: 'asg' })
      expect(put.status).toBe(200)
      expect(put.body).toEqual({ kind, subject, site: 'asg' })
      expect((await net.api.call('GET', `/assignments/${kind}/${subject}`, net.admin)).body.site).toBe('asg')
    }
    const list = await net.api.call('GET', '/assignments', net.admin)
    expect(list.body.assignments).toEqual(
      expect.arrayContaining([
        { kind: 'org', subject: 'acme', site: 'asg' },
        { kind: 'team', subject: 'acme/devs', site: 'asg' },
        { kind: 'user', subject: 'alice', site: 'asg' },
      ]),
    )
    expect((await net.api.call('DELETE', '/assignments/team/acme/devs', net.admin)).status).toBe(204)
    expect((await net.api.call('GET', '/assignments/team/acme/devs', net.admin)).status).toBe(404)
    expect((await net.api.call('PUT', '/assignments/group/x', net.admin, { site: 'asg' })).status).toBe(400)
    expect((await net.api.call('PUT', '/assignments/team/no-slash', net.admin, { site: 'asg' })).status).toBe(400)
    expect((await net.api.call('PUT', '/assignments/user/bob', net.admin, { site: 'ghost' })).status).toBe(400)
  })

  test('networks: add, list, remove, validation', async () => {
    const added = await net.api.call('POST', '/networks', net.admin, {
      cidr: '10.20.30.40/16',
      latitude: 52.52,
      longitude: 13.4,
      label: 'berlin office',
    })
    expect(added.status).toBe(201)
    expect(added.body).toMatchObject({ cidr: '10.20.0.0/16', latitude: 52.52, longitude: 13.4, label: 'berlin office' })
    expect((await net.api.call('GET', '/networks', net.admin)).body.networks).toContainEqual(added.body)
    expect((await net.api.call('POST', '/networks', net.admin, { cidr: '10.0.0.0/8' })).status).toBe(400)
    expect((await net.api.call('DELETE', `/networks/${added.body.id}`, net.admin)).status).toBe(204)
    expect((await net.api.call('DELETE', `/networks/${added.body.id}`, net.admin)).status).toBe(404)
  })

  test('resolve over the API: a bad address is a 400, an up site with a network wins', async () => {
    expect((await net.api.call('POST', '/assignments/resolve', net.admin, { address: '1.2.3' })).status).toBe(400)
    const joined = await net.join({ name: 'resolver', url: 'https://resolver.example.com', networks: ['172.16.0.0/12'] })
    await net.api.call('POST', `/sites/${joined.site.id}/heartbeat`, { bearer: joined.credential }, { version: '1' })
    const res = await net.api.call('POST', '/assignments/resolve', await net.originToken(), { user: 'zed', address: '::ffff:172.16.5.5' })
    expect(res.body).toEqual({
      site: { id: joined.site.id, name: 'resolver', url: 'https://resolver.example.com', chain: [joined.site.id] },
      rule: 'network',
      detail: '172.16.5.5 is in 172.16.0.0/12, a network of resolver',
    })
  })
})

describe("the API's edges", () => {
  test('a known path asked with another method is a 405 with Allow, an unknown one a 404', async () => {
    for (const [method, path, allow] of [
      ['PUT', '/sites', 'GET, HEAD, POST'],
      ['POST', '/sites/eu-west', 'GET, HEAD, PATCH, DELETE'],
      ['GET', '/assignments/resolve', 'POST'],
      ['PATCH', '/join-tokens', 'GET, HEAD, POST'],
    ] as const) {
      const res = await net.api.call(method, path, net.admin)
      expect(res.status, `${method} ${path}`).toBe(405)
      expect(res.headers.get('allow')).toBe(allow)
      expect(res.body.error).toMatchObject({ code: 'METHOD_NOT_ALLOWED', message: expect.stringContaining(path) })
    }
    const unknown = await net.api.call('GET', '/nowhere', net.admin)
    expect(unknown.status).toBe(404)
    expect(unknown.body.error.code).toBe('NOT_FOUND')
  })

  test('a body over 8 MiB is a 413 as it streams, chunked too, and the connection is closed for the next request', async () => {
    const client = new Client(net.cp.url, { pipelining: 0 })
    const bearer = (net.admin as { bearer: string }).bearer
    try {
      const chunks = async function* () {
        for (let i = 0; i < 12; i++) yield Buffer.alloc(1024 * 1024, 0x20)
      }
      const res = await client.request({
        method: 'POST',
        path: '/api/v0/sites',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        body: Readable.from(chunks()),
      })
      expect(res.statusCode).toBe(413)
      expect(res.headers.connection).toBe('close')
      expect(((await res.body.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE')
      const next = await client.request({ method: 'GET', path: '/api/v0/sites', headers: { authorization: `Bearer ${bearer}` } })
      expect(next.statusCode).toBe(200)
      await next.body.dump()
    } finally {
      await client.close()
    }
  })

  test('queries are checked like bodies: an unknown parameter is named', async () => {
    const res = await net.api.call('GET', '/reports/bandwidth?granularty=day', net.admin)
    expect(res.status).toBe(400)
    expect(res.body.error.message).toMatch(/unknown field granularty; expected from, to, granularity/)
  })

  test('who may call is decided before the body is read: a bad body from an anonymous caller is a 401', async () => {
    expect((await net.api.call('POST', '/sites', undefined, { nonsense: true })).status).toBe(401)
    expect((await net.api.call('POST', '/networks', await net.originToken(), { nonsense: true })).status).toBe(403)
  })

  test('what cache nodes send is loose: fields a newer node adds are ignored, known ones still checked', async () => {
    const joined = await net.join({ name: 'newer-node', url: 'https://newer.example.com', futureField: { x: 1 } })
    const beat = (body: Record<string, unknown>) =>
      net.api.call('POST', `/sites/${joined.site.id}/heartbeat`, { bearer: joined.credential }, body)
    expect((await beat({ version: '9', someNewCounter: 5 })).status).toBe(200)
    const bad = await beat({ version: '9', hitRatio: 2 })
    expect(bad.status).toBe(400)
    expect(bad.body.error.message).toMatch(/hitRatio must be a number from 0 to 1/)
  })
})
