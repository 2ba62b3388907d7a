import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createUser } from '../helpers/api.ts'
import { tokenFor } from '../helpers/auth.ts'
import { startControlPlane } from '../helpers/start-control-plane.ts'
import { TEST_ADMIN } from '../helpers/start-origin.ts'
import { parseBearerChallenge } from '../../oci/challenge.ts'
import { ADMIN_SCOPE, beat, startNetwork, type Network } from './fixtures.ts'

let net: Network
beforeAll(async () => {
  net = await startNetwork()
})
afterAll(() => net.close())

describe('who may call the control plane', () => {
  test('no token: 401 with a challenge naming the origin realm, service and admin scope', async () => {
    const res = await net.api.call('GET', '/sites')
    expect(res.status).toBe(401)
    expect(res.body.error.code).toBe('UNAUTHORIZED')
    const challenge = parseBearerChallenge(res.headers.get('www-authenticate'))
    expect(challenge).toEqual({
      realm: `${net.origin.url}/auth/token`,
      service: net.origin.host,
      scope: ADMIN_SCOPE,
      error: undefined,
    })
  })

  test('the challenge leads to a working token', async () => {
    const challenge = parseBearerChallenge((await net.api.call('GET', '/sites')).headers.get('www-authenticate'))!
    const url = `${challenge.realm}?service=${encodeURIComponent(challenge.service!)}&scope=${encodeURIComponent(ADMIN_SCOPE)}`
    const res = await fetch(url, {
      headers: { authorization: `Basic ${Buffer.from(`${TEST_ADMIN.username}:${TEST_ADMIN.password}`).toString('base64')}` },
    })
    const { token } = (await res.json()) as { token: string }
    expect((await net.api.call('GET', '/sites', { bearer: token })).status).toBe(200)
  })

  test('an admin token works', async () => {
    const res = await net.api.call('GET', '/sites', net.admin)
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ sites: [] })
  })

  test('a user who is not a system admin gets 403', async () => {
    const alice = await createUser(net.originApi, TEST_ADMIN, 'alice')
    const token = await tokenFor(net.origin.url, [ADMIN_SCOPE], alice)
    const res = await net.api.call('GET', '/sites', { bearer: token })
    expect(res.status).toBe(403)
    expect(res.body.error.code).toBe('FORBIDDEN')
  })

  test('a token signed by another key is refused, even with a known key id', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256')
    const realKid = (await fetch(`${net.origin.url}/auth/jwks.json`).then((r) => r.json()) as { keys: { kid: string }[] }).keys[0]!.kid
    const now = Math.floor(Date.now() / 1000)
    const forge = (kid: string) =>
      new SignJWT({ access: [{ type: 'controlplane', name: 'admin', actions: ['*'] }] })
        .setProtectedHeader({ alg: 'ES256', kid })
        .setIssuer(net.origin.url)
        .setSubject('admin')
        .setAudience(net.origin.host)
        .setIssuedAt(now)
        .setExpirationTime(now + 300)
        .sign(privateKey)
    expect(await exportJWK(publicKey)).toBeTruthy()
    for (const kid of [realKid, 'made-up-kid']) {
      const res = await net.api.call('GET', '/sites', { bearer: await forge(kid) })
      expect(res.status).toBe(401)
      expect(parseBearerChallenge(res.headers.get('www-authenticate'))?.error).toBe('invalid_token')
    }
    expect((await net.api.call('GET', '/sites', { bearer: 'not.a.jwt' })).status).toBe(401)
  })

  test('a personal access token is refused as the wrong kind of credential, not as an expired token', async () => {
    const made = await net.originApi.call('POST', `/accounts/${TEST_ADMIN.username}/tokens`, TEST_ADMIN, { name: 'cp-probe' })
    expect(made.status).toBe(201)
    const pat = made.body.token as string
    expect(pat).toMatch(/^wharf_pat_/)
    const res = await net.api.call('GET', '/sites', { bearer: pat })
    expect(res.status).toBe(401)
    expect(res.body.error.message).toContain('a personal access token is not accepted here')
    expect(res.body.error.message).toContain('/auth/token')
    expect(res.body.error.message).not.toContain('expired')
  })

  test('an expired origin token is refused as expired', async () => {
    const { tokens, keys } = net.origin.deps.identity
    const { kid, key } = keys.signing()
    const then = Math.floor(Date.now() / 1000) - 3600
    const token = await new SignJWT({ access: [{ type: 'controlplane', name: 'admin', actions: ['*'] }] })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid })
      .setIssuer(tokens.issuer)
      .setSubject(TEST_ADMIN.username)
      .setAudience(tokens.service)
      .setIssuedAt(then)
      .setExpirationTime(then + 300)
      .sign(key)
    const res = await net.api.call('GET', '/sites', { bearer: token })
    expect(res.status).toBe(401)
    expect(res.body.error.message).toBe('the token has expired: get a new one from the origin')
  })

  test("the origin's own token may only resolve, read sites and manage user assignments", async () => {
    const origin = await net.originToken()
    await net.api.call('POST', '/sites', net.admin, { name: 'o-eu', url: 'https://o-eu.example.com' })
    expect((await net.api.call('GET', '/sites', origin)).status).toBe(200)
    expect((await net.api.call('GET', '/sites/o-eu', origin)).status).toBe(200)
    expect((await net.api.call('POST', '/assignments/resolve', origin, { user: 'x' })).status).toBe(200)
    expect((await net.api.call('PUT', '/assignments/user/bob', origin, { site: 'o-eu' })).status).toBe(200)
    expect((await net.api.call('GET', '/assignments/user/bob', origin)).body).toEqual({ kind: 'user', subject: 'bob', site: 'o-eu' })
    expect((await net.api.call('DELETE', '/assignments/user/bob', origin)).status).toBe(204)
    expect((await net.api.call('PUT', '/assignments/team/acme/devs', origin, { site: 'o-eu' })).status).toBe(403)
    expect((await net.api.call('GET', '/assignments', origin)).status).toBe(403)
    expect((await net.api.call('POST', '/sites', origin, { name: 'x', url: 'https://x.example.com' })).status).toBe(403)
    expect((await net.api.call('POST', '/join-tokens', origin, {})).status).toBe(403)
    expect((await net.api.call('GET', '/reports/bandwidth', origin)).status).toBe(403)
  })

  test("a site credential sends only its own site's heartbeats, and no admin calls", async () => {
    const a = await net.join({ name: 'cred-a', url: 'https://cred-a.example.com' })
    const b = await net.join({ name: 'cred-b', url: 'https://cred-b.example.com' })
    const asA = { bearer: a.credential }
    expect((await net.api.call('POST', `/sites/${a.site.id}/heartbeat`, asA, beat())).status).toBe(200)
    const other = await net.api.call('POST', `/sites/${b.site.id}/heartbeat`, asA, beat())
    expect(other.status).toBe(403)
    expect((await net.api.call('POST', `/sites/${b.site.id}/metrics`, asA, { batch: '1', entries: [] })).status).toBe(403)
    expect((await net.api.call('GET', '/sites', asA)).status).toBe(403)
    expect((await net.api.call('POST', '/join-tokens', asA, {})).status).toBe(403)
    // a wrong secret, or none, is 401
    const wrong = `${a.credential.slice(0, -4)}0000`
    expect((await net.api.call('POST', `/sites/${a.site.id}/heartbeat`, { bearer: wrong }, beat())).status).toBe(401)
    expect((await net.api.call('POST', `/sites/${a.site.id}/heartbeat`, undefined, beat())).status).toBe(401)
    // an admin is not a site
    expect((await net.api.call('POST', `/sites/${a.site.id}/heartbeat`, net.admin, beat())).status).toBe(403)
  })

  test('errors are JSON with a code; unknown endpoints are 404', async () => {
    const res = await net.api.call('GET', '/nothing-here', net.admin)
    expect(res.status).toBe(404)
    expect(res.body.error.code).toBe('NOT_FOUND')
  })
})

test('before the origin has been reached, admin calls get 503 and site credentials still work', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'wharf-cp-offline-'))
  const net2 = await startNetwork({ dataDir })
  const joined = await net2.join({ name: 'offline', url: 'https://offline.example.com' })
  const adminToken = (net2.admin as { bearer: string }).bearer
  await net2.close()

  // a fresh control plane whose origin is unreachable: it cannot check origin tokens
  const lonely = await startControlPlane({ originUrl: 'http://127.0.0.1:9' })
  const res = await fetch(`${lonely.url}/api/v0/sites`, { headers: { authorization: `Bearer ${adminToken}` } })
  expect(res.status).toBe(503)
  expect(((await res.json()) as { error: { code: string; message: string } }).error).toMatchObject({
    code: 'UNAVAILABLE',
    message: expect.stringContaining('has not reached its origin'),
  })
  expect((await fetch(`${lonely.url}/api/v0/sites`)).status).toBe(503)
  await lonely.close()

  // the first data folder, origin gone: site credentials never needed the origin
  const again = await startControlPlane({ originUrl: 'http://127.0.0.1:9', dataDir })
  try {
    const hb = await fetch(`${again.url}/api/v0/sites/${joined.site.id}/heartbeat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${joined.credential}`, 'content-type': 'application/json' },
      body: JSON.stringify(beat()),
    })
    expect(hb.status).toBe(200)
    // and what was learned from the origin is kept: the admin token still verifies offline
    expect((await fetch(`${again.url}/api/v0/sites`, { headers: { authorization: `Bearer ${adminToken}` } })).status).toBe(200)
  } finally {
    await again.close()
    await rm(dataDir, { recursive: true, force: true })
  }
})

test('one request line per request, never with a credential in it', async () => {
  const lines: Record<string, unknown>[] = []
  const cp = await startControlPlane({ originUrl: net.origin.url, logLines: lines })
  try {
    const token = (net.admin as { bearer: string }).bearer
    await fetch(`${cp.url}/api/v0/sites`, { headers: { authorization: `Bearer ${token}` } })
    await fetch(`${cp.url}/api/v0/sites`)
    const requests = lines.filter((l) => l.msg === 'request')
    expect(requests).toEqual([
      expect.objectContaining({ method: 'GET', path: '/api/v0/sites', status: 200, caller: 'admin', subject: 'admin' }),
      expect.objectContaining({ method: 'GET', path: '/api/v0/sites', status: 401, caller: 'anonymous' }),
    ])
    expect(JSON.stringify(lines)).not.toContain(token)
  } finally {
    await cp.close()
  }
})
