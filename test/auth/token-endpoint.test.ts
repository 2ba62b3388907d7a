import { rm } from 'node:fs/promises'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashPassword } from '../../origin/services/passwords.ts'
import { basic, decodeAccess, getToken, tokenFor } from '../helpers/auth.ts'
import { startOrigin, TEST_ADMIN, type RunningOrigin } from '../helpers/start-origin.ts'
import type { OriginDeps } from '../../origin/deps.ts'

let origin: RunningOrigin & { deps: OriginDeps }

async function get(path: string, headers: Record<string, string> = {}) {
  const res = await request(`${origin.url}${path}`, { headers })
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
}

async function post(path: string, form: Record<string, string>) {
  const res = await request(`${origin.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  })
  return { status: res.statusCode, headers: res.headers, body: JSON.parse(await res.body.text()) as Record<string, unknown> }
}

beforeAll(async () => {
  origin = await startOrigin()
  const { accounts } = origin.deps.identity
  accounts.insert({ name: 'zoe', kind: 'user', passwordHash: await hashPassword('zoe-password-1'), now: Date.now() })
  accounts.insert({ name: 'yan', kind: 'user', passwordHash: await hashPassword('yan-password-1'), now: Date.now() })
})
afterAll(async () => {
  await origin?.close()
})

describe('GET /v2/ and the challenge', () => {
  it('answers 401 with an absolute realm and the service, and 200 with any valid token', async () => {
    const r = await get('/v2/')
    expect(r.status).toBe(401)
    expect(r.headers['docker-distribution-api-version']).toBe('registry/2.0')
    expect(r.headers['www-authenticate']).toBe(`Bearer realm="${origin.url}/auth/token",service="${origin.host}"`)
    const anon = await tokenFor(origin.url, [])
    expect((await get('/v2/', { authorization: `Bearer ${anon}` })).status).toBe(200)
  })

  it('names the needed scope in a repository challenge', async () => {
    const r = await get('/v2/acme/app/tags/list')
    expect(r.status).toBe(401)
    expect(r.headers['www-authenticate']).toContain('scope="repository:acme/app:pull"')
  })
})

describe('GET /auth/token', () => {
  it('gives anonymous callers a token, never a 401', async () => {
    const r = await getToken(origin.url, ['repository:acme/app:pull'])
    expect(r.status).toBe(200)
    expect(r.body.token).toBe(r.body.access_token)
    expect(r.body.expires_in).toBe(300)
    expect(typeof r.body.issued_at).toBe('string')
    expect(decodeAccess(r.body.token as string)).toEqual([])
    expect(r.body.refresh_token).toBeUndefined()
  })

  it('returns a refresh token for docker login (offline_token=true) that the POST grant accepts', async () => {
    const login = await getToken(origin.url, [], { username: 'zoe', password: 'zoe-password-1' }, { offline_token: 'true', client_id: 'docker', account: 'zoe' })
    expect(login.status).toBe(200)
    const refresh = login.body.refresh_token as string
    expect(refresh).toMatch(/^wharf_rt_/)
    const r = await post('/auth/token', {
      grant_type: 'refresh_token',
      refresh_token: refresh,
      client_id: 'docker',
      service: origin.host,
      scope: 'repository:zoe/app:pull,push',
    })
    expect(r.status).toBe(200)
    expect(r.body.refresh_token).toBe(refresh)
    expect(decodeAccess(r.body.access_token as string)).toEqual([{ type: 'repository', name: 'zoe/app', actions: ['pull', 'push'] }])
    expect(r.body.scope).toBe('repository:zoe/app:pull,push')
  })

  it('takes the password grant on POST and refuses bad requests with OAuth2 errors', async () => {
    const ok = await post('/auth/token', { grant_type: 'password', username: 'zoe', password: 'zoe-password-1', client_id: 'containerd', scope: 'repository:zoe/x:pull' })
    expect(ok.status).toBe(200)
    expect(ok.body.refresh_token).toBeUndefined()
    const offline = await post('/auth/token', { grant_type: 'password', username: 'zoe', password: 'zoe-password-1', client_id: 'c', access_type: 'offline' })
    expect(offline.body.refresh_token).toMatch(/^wharf_rt_/)
    expect((await post('/auth/token', { grant_type: 'password', username: 'zoe', password: 'nope', client_id: 'c' })).body.error).toBe('invalid_grant')
    expect((await post('/auth/token', { grant_type: 'password', username: 'zoe', password: 'x' })).status).toBe(400)
    expect((await post('/auth/token', { grant_type: 'client_credentials', client_id: 'c' })).body.error).toBe('unsupported_grant_type')
    expect((await post('/auth/token', { grant_type: 'refresh_token', refresh_token: 'wharf_rt_forged_x', client_id: 'c' })).status).toBe(401)
  })

  it('rate-limits failed logins per user and address with a 429 and Retry-After', async () => {
    const creds = { username: 'yan', password: 'wrong-password' }
    for (let i = 0; i < 10; i++) expect((await getToken(origin.url, [], creds)).status).toBe(401)
    const limited = await getToken(origin.url, [], creds)
    expect(limited.status).toBe(429)
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    // even the right password waits now: the limiter answers before the password is checked
    expect((await getToken(origin.url, [], { username: 'yan', password: 'yan-password-1' })).status).toBe(429)
    // another user from the same address is not locked out by yan's failures
    expect((await getToken(origin.url, [], TEST_ADMIN)).status).toBe(200)
  })

  it('records logins and issued tokens as events, without secrets', async () => {
    const events = origin.deps.identity.events.list({ limit: 500 })
    expect(events.some((e) => e.action === 'login' && e.outcome === 'failure' && e.actor === 'zoe')).toBe(true)
    expect(events.some((e) => e.action === 'login' && e.outcome === 'success' && e.actor === 'zoe')).toBe(true)
    const issued = events.find((e) => e.action === 'token.issue' && e.actor === 'zoe')
    expect(issued?.detail).toHaveProperty('granted')
    const all = JSON.stringify(events)
    expect(all).not.toContain('zoe-password-1')
    expect(all).not.toContain('wrong-password')
    expect(all).not.toContain('wharf_rt_')
  })
})

describe('signing keys', () => {
  it('publishes a JWKS that verifies tokens, and keeps old keys verifying after a rotation', async () => {
    const before = await tokenFor(origin.url, ['repository:zoe/app:pull'], TEST_ADMIN)
    const kidBefore = JSON.parse(Buffer.from(before.split('.')[0]!, 'base64url').toString()).kid as string
    const jwks1 = JSON.parse((await get('/auth/jwks.json')).text) as { keys: { kid: string; kty: string; d?: string }[] }
    expect(jwks1.keys.map((k) => k.kid)).toContain(kidBefore)
    expect(jwks1.keys.every((k) => k.kty === 'EC' && k.d === undefined)).toBe(true)

    await origin.deps.identity.keys.rotate()
    const after = await tokenFor(origin.url, ['repository:zoe/app:pull'], TEST_ADMIN)
    const kidAfter = JSON.parse(Buffer.from(after.split('.')[0]!, 'base64url').toString()).kid as string
    expect(kidAfter).not.toBe(kidBefore)
    const jwks2 = JSON.parse((await get('/auth/jwks.json')).text) as { keys: { kid: string }[] }
    expect(jwks2.keys.map((k) => k.kid).sort()).toEqual([kidBefore, kidAfter].sort())
    for (const t of [before, after]) expect((await get('/v2/', { authorization: `Bearer ${t}` })).status).toBe(200)
  })

  it('keeps its keys across a restart, so tokens issued before still verify, and no other origin accepts them', async () => {
    // the same public name for all three, so only the keys tell them apart
    const env = { ORIGIN_PUBLIC_URL: 'http://registry.test:5000' }
    const dataDir = `${origin.dataDir}-restart`
    const first = await startOrigin({ dataDir, env })
    const token = await tokenFor(first.url, [], TEST_ADMIN)
    await first.close()
    const again = await startOrigin({ dataDir, env })
    const other = await startOrigin({ env })
    try {
      for (const [o, expected] of [
        [again, 200],
        [other, 401],
      ] as const) {
        const res = await request(`${o.url}/v2/`, { headers: { authorization: `Bearer ${token}` } })
        await res.body.dump()
        expect(res.statusCode).toBe(expected)
      }
    } finally {
      await again.close()
      await other.close()
      await rm(dataDir, { recursive: true, force: true })
    }
  })
})

describe('repositories created by a push', () => {
  it('creates a private repository in the pusher own namespace, and not in someone else\'s', async () => {
    const zoe = { username: 'zoe', password: 'zoe-password-1' }
    const own = await tokenFor(origin.url, ['repository:zoe/new:pull,push'], zoe)
    const r = await request(`${origin.url}/v2/zoe/new/blobs/uploads/`, { method: 'POST', headers: { authorization: `Bearer ${own}` } })
    await r.body.dump()
    expect(r.statusCode).toBe(202)
    expect(origin.deps.meta.repository('zoe/new')?.visibility).toBe('private')
    const created = origin.deps.identity.events.list({ action: 'repository.create', limit: 100 }).filter((e) => e.target === 'zoe/new')
    expect(created).toMatchObject([{ actor: 'zoe', actorKind: 'user', targetType: 'repository', address: '127.0.0.1', detail: { visibility: 'private', onPush: true } }])
    const other = await tokenFor(origin.url, ['repository:admin/new:pull,push'], zoe)
    expect(decodeAccess(other)).toEqual([])
  })

  it('refuses a push to a missing repository with a clear message when createRepositoryOnPush is off', async () => {
    origin.deps.identity.settings.set('createRepositoryOnPush', false)
    try {
      const token = await tokenFor(origin.url, ['repository:zoe/other:pull,push'], { username: 'zoe', password: 'zoe-password-1' })
      const r = await request(`${origin.url}/v2/zoe/other/blobs/uploads/`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
      const body = JSON.parse(await r.body.text()) as { errors: { code: string; message: string }[] }
      expect(r.statusCode).toBe(403)
      expect(body.errors[0]!.code).toBe('DENIED')
      expect(body.errors[0]!.message).toContain('does not create repositories on push')
      expect(origin.deps.meta.repository('zoe/other')).toBeUndefined()
      // a manifest put and a mount are pushes too, refused alike
      const put = await request(`${origin.url}/v2/zoe/other/manifests/v1`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
        body: '{}',
      })
      expect(put.statusCode).toBe(403)
      await put.body.dump()
      expect(origin.deps.meta.repository('zoe/other')).toBeUndefined()
    } finally {
      origin.deps.identity.settings.set('createRepositoryOnPush', true)
    }
  })

  it('lets basic auth reach the API-side helpers only through the token endpoint', async () => {
    // /v2/ takes bearer tokens only: basic credentials get the challenge, as docker expects
    const r = await get('/v2/', { authorization: basic(TEST_ADMIN) })
    expect(r.status).toBe(401)
    expect(r.headers['www-authenticate']).toMatch(/^Bearer realm=/)
  })
})
