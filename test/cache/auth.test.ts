/**
 * Access through the cache: tokens from the origin's realm, verified offline with its JWKS. Private content is
 * refused without a valid token for its repository whether or not it is cached, and the refused requests never
 * reach the origin; public content works with an anonymous token; a key rotation on the origin is picked up; the
 * cache forwards the caller's own token and never sends it to a registry that does not trust the same origin.
 */
import { generateKeyPair, SignJWT, type CryptoKey } from 'jose'
import { randomBytes, randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { OriginDeps } from '../../origin/deps.ts'
import { apiClient, createRepo, createUser } from '../helpers/api.ts'
import { getToken, tokenFor, type Credentials } from '../helpers/auth.ts'
import { blob, call, errorCode, manifest, pushImage, sha256, type PushedImage } from '../helpers/cache-http.ts'
import { startFakeRegistry, type FakeRegistry } from '../helpers/fake-registry.ts'
import { startCache, type RunningCache } from '../helpers/start-cache.ts'
import { startOrigin, TEST_ADMIN, type RunningOrigin } from '../helpers/start-origin.ts'

let origin: RunningOrigin & { deps: OriginDeps }
let cache: RunningCache
let offset = 0
const now = () => Date.now() + offset
let alice: Credentials
let bob: Credentials
let secret: PushedImage
let open: PushedImage
let bobs: PushedImage
const originLog: Record<string, unknown>[] = []

beforeAll(async () => {
  origin = await startOrigin({ logLines: originLog })
  const api = apiClient(origin.url)
  alice = await createUser(api, TEST_ADMIN, 'alice')
  bob = await createUser(api, TEST_ADMIN, 'bob')
  await createRepo(api, alice, 'alice/private', 'private')
  await createRepo(api, alice, 'alice/public', 'public')
  secret = await pushImage(origin.url, 'alice/private', alice, [randomBytes(64 * 1024)], 'v1')
  open = await pushImage(origin.url, 'alice/public', alice, [randomBytes(64 * 1024)], 'v1')
  bobs = await pushImage(origin.url, 'bob/app', bob, [randomBytes(1024)], 'v1')
  // a short cooldown between key fetches caused by unknown key ids keeps the rotation tests quick
  cache = await startCache({ originUrl: origin.url, now, env: { CACHE_JWKS_COOLDOWN: '1s' } })
})

afterAll(async () => {
  await cache?.close()
  await origin?.close()
})

/** A token signed with `key` (the origin's current key by default), with claims overridable. */
async function mint(
  claims: { exp?: number; aud?: string; iss?: string; access?: unknown } = {},
  key?: { kid: string; key: CryptoKey },
): Promise<string> {
  const signer = key ?? origin.deps.identity.keys.signing()
  const t = Math.floor(Date.now() / 1000)
  return new SignJWT({ access: claims.access ?? [{ type: 'repository', name: 'alice/private', actions: ['pull'] }] })
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: signer.kid })
    .setIssuer(claims.iss ?? new URL(origin.url).origin)
    .setSubject('alice')
    .setAudience(claims.aud ?? origin.deps.identity.tokens.service)
    .setIssuedAt(t - 10)
    .setNotBefore(t - 10)
    .setExpirationTime(claims.exp ?? t + 300)
    .setJti(randomUUID())
    .sign(signer.key)
}

/** Blob or manifest GETs the origin answered, by path. */
const originGets = (path: string) => originLog.filter((l) => l.msg === 'request' && l.path === path).length

function expectChallenge(res: Awaited<ReturnType<typeof call>>, scope: string | undefined, error?: string): void {
  expect(res.status, res.body.toString()).toBe(401)
  // a HEAD answer has no body to carry the error code
  if (res.body.length > 0) expect(errorCode(res)).toBe('UNAUTHORIZED')
  const challenge = res.headers['www-authenticate'] ?? ''
  expect(challenge).toContain(`Bearer realm="${origin.url}/auth/token",service="${origin.host}"`)
  if (scope) expect(challenge).toContain(`scope="${scope}"`)
  else expect(challenge).not.toContain('scope=')
  if (error) expect(challenge).toContain(`error="${error}"`)
}

describe('docker login <cache>', () => {
  it('is challenged by GET /v2/ with the origin realm, and accepted with an origin token', async () => {
    expectChallenge(await call(`${cache.url}/v2/`), undefined)
    const token = await tokenFor(origin.url, [], alice)
    const ok = await call(`${cache.url}/v2/`, { token })
    expect(ok.status).toBe(200)
    expect(ok.headers['docker-distribution-api-version']).toBe('registry/2.0')
    expectChallenge(await call(`${cache.url}/v2/`, { token: `${token}x` }), undefined, 'invalid_token')
  })
})

describe('private content', () => {
  const scope = 'repository:alice/private:pull'
  const refusals: [string, () => Promise<string | undefined>, string | undefined][] = [
    ['no token', async () => undefined, undefined],
    [
      "bob's token for his own repository",
      () => tokenFor(origin.url, ['repository:bob/app:pull', scope], bob),
      'insufficient_scope',
    ],
    [
      "alice's token for another of her repositories",
      () => tokenFor(origin.url, ['repository:alice/public:pull'], alice),
      'insufficient_scope',
    ],
    [
      'an anonymous token',
      async () => (await getToken(origin.url, [scope])).body.token as string,
      'insufficient_scope',
    ],
    ['an expired token', () => mint({ exp: Math.floor(Date.now() / 1000) - 600 }), 'invalid_token'],
    ['a token for another audience', () => mint({ aud: 'elsewhere.example' }), 'invalid_token'],
    ['a token from another issuer', () => mint({ iss: 'https://evil.example' }), 'invalid_token'],
    [
      'a forged token (right kid, wrong key)',
      async () =>
        mint({}, { kid: origin.deps.identity.keys.signing().kid, key: (await generateKeyPair('ES256')).privateKey }),
      'invalid_token',
    ],
  ]

  for (const phase of ['not cached', 'cached'] as const) {
    it(`is refused when ${phase}, without reaching the origin`, async () => {
      const layer = secret.layers[0]!
      const blobPath = `/v2/alice/private/blobs/${layer.digest}`
      const manifestPath = '/v2/alice/private/manifests/v1'
      if (phase === 'cached') {
        const token = await tokenFor(origin.url, [scope], alice)
        expect((await blob(cache.url, 'alice/private', layer.digest, { token })).status).toBe(200)
        expect((await manifest(cache.url, 'alice/private', 'v1', { token })).status).toBe(200)
      }
      const before = [originGets(blobPath), originGets(manifestPath)]
      for (const [what, token, error] of refusals) {
        const t = await token()
        const b = await blob(cache.url, 'alice/private', layer.digest, { token: t })
        expect(b.body.includes(layer.bytes.subarray(0, 64)), what).toBe(false)
        expectChallenge(b, scope, error)
        expectChallenge(
          await blob(cache.url, 'alice/private', layer.digest, { token: t, method: 'HEAD' }),
          scope,
          error,
        )
        expectChallenge(await manifest(cache.url, 'alice/private', 'v1', { token: t }), scope, error)
        expectChallenge(await manifest(cache.url, 'alice/private', secret.manifest.digest, { token: t }), scope, error)
      }
      expect([originGets(blobPath), originGets(manifestPath)]).toEqual(before)
    })
  }

  it('counts a challenge as cache="auth", not as an error of the cache', async () => {
    const res = await manifest(cache.url, 'alice/never-pushed', 'v1')
    expect(res.status).toBe(401)
    const text = await (await fetch(`${cache.url}/metrics`)).text()
    expect(text).toMatch(/^wharf_cache_repository_requests_total\{repository="alice\/never-pushed",cache="auth"\} 1$/m)
    expect(text).toMatch(/^wharf_cache_requests_total\{kind="manifest",cache="auth"\} \d+$/m)
    expect(text).not.toMatch(/cache="error"/)
  })

  it('is served with a token for the repository, which the cache forwards to fill', async () => {
    const token = await tokenFor(origin.url, [scope], alice)
    const res = await blob(cache.url, 'alice/private', secret.config.digest, { token })
    expect(res.status).toBe(200)
    expect(res.body.equals(secret.config.bytes)).toBe(true)
  })

  it('does not leak through another repository that does not hold it, even when cached', async () => {
    const layer = secret.layers[0]!
    const alicesToken = await tokenFor(origin.url, [scope], alice)
    expect((await blob(cache.url, 'alice/private', layer.digest, { token: alicesToken })).status).toBe(200)
    // bob may pull his own repository, and asks for alice's digest through it
    const token = await tokenFor(origin.url, ['repository:bob/app:pull'], bob)
    const res = await blob(cache.url, 'bob/app', layer.digest, { token })
    expect(res.status).toBe(404)
    expect(errorCode(res)).toBe('BLOB_UNKNOWN')
    const head = await blob(cache.url, 'bob/app', layer.digest, { token, method: 'HEAD' })
    expect(head.status).toBe(404)
    const viaManifest = await manifest(cache.url, 'bob/app', secret.manifest.digest, { token })
    expect(viaManifest.status).toBe(404)
    // his own content is fine
    const own = await blob(cache.url, 'bob/app', bobs.layers[0]!.digest, { token })
    expect(sha256(own.body)).toBe(bobs.layers[0]!.digest)
  })
})

describe('public content', () => {
  it('is served to an anonymous token, and challenged without one', async () => {
    const scope = 'repository:alice/public:pull'
    const anon = (await getToken(origin.url, [scope])).body.token as string
    const m = await manifest(cache.url, 'alice/public', 'v1', { token: anon })
    expect(m.status).toBe(200)
    expect(m.body.equals(open.manifest.bytes)).toBe(true)
    const b = await blob(cache.url, 'alice/public', open.layers[0]!.digest, { token: anon })
    expect(sha256(b.body)).toBe(open.layers[0]!.digest)
    expectChallenge(await blob(cache.url, 'alice/public', open.layers[0]!.digest), scope)
  })
})

describe('a key rotation on the origin', () => {
  it('is picked up: tokens signed with the new key are accepted, and ones signed before still are', async () => {
    const scope = 'repository:alice/private:pull'
    const before = await tokenFor(origin.url, [scope], alice)
    expect((await blob(cache.url, 'alice/private', secret.config.digest, { token: before })).status).toBe(200)
    const rotated = await apiClient(origin.url).call('POST', '/meta/keys/rotate', TEST_ADMIN)
    expect(rotated.status).toBe(200)
    const after = await tokenFor(origin.url, [scope], alice)
    // past the cooldown between JWKS fetches caused by unknown key ids
    offset += 11_000
    const res = await blob(cache.url, 'alice/private', secret.config.digest, { token: after })
    expect(res.status, res.body.toString()).toBe(200)
    expect((await blob(cache.url, 'alice/private', secret.config.digest, { token: before })).status).toBe(200)
  })

  it('is picked up even when a forged key id made the cache fetch the keys a moment before (it waits for the next fetch)', async () => {
    const scope = 'repository:alice/private:pull'
    const stranger = await generateKeyPair('ES256')
    const forged = await mint({}, { kid: `forged-${randomUUID()}`, key: stranger.privateKey })
    expect((await blob(cache.url, 'alice/private', secret.config.digest, { token: forged })).status).toBe(401)
    expect((await apiClient(origin.url).call('POST', '/meta/keys/rotate', TEST_ADMIN)).status).toBe(200)
    const after = await tokenFor(origin.url, [scope], alice)
    const res = await blob(cache.url, 'alice/private', secret.config.digest, { token: after })
    expect(res.status, res.body.toString()).toBe(200)
  })
})

describe('a token kept as verified', () => {
  it('is refused once it expires on the cache clock', async () => {
    const token = await mint({ exp: Math.floor(now() / 1000) + 30 })
    expect((await blob(cache.url, 'alice/private', secret.config.digest, { token })).status).toBe(200)
    offset += 60_000
    expectChallenge(
      await blob(cache.url, 'alice/private', secret.config.digest, { token }),
      'repository:alice/private:pull',
      'invalid_token',
    )
  })
})

describe('an upstream that does not trust the origin', () => {
  let fake: FakeRegistry
  let wrong: RunningCache
  beforeAll(async () => {
    fake = await startFakeRegistry()
    wrong = await startCache({ originUrl: origin.url, upstreamUrl: fake.url })
  })
  afterAll(async () => {
    await wrong?.close()
    await fake?.close()
  })

  it('never receives a caller token: configured as CACHE_UPSTREAM_URL it is refused with a 502', async () => {
    const c = fake.addBlob('alice/private', randomBytes(100))
    const token = await tokenFor(origin.url, ['repository:alice/private:pull'], alice)
    const res = await blob(wrong.url, 'alice/private', c.digest, { token })
    expect(res.status).toBe(502)
    expect(errorCode(res)).toBe('UNKNOWN')
    expect(res.body.toString()).toContain('does not take the origin')
    expect(fake.requests.some((r) => r.authorization)).toBe(false)
    expect(fake.count('GET', /\/blobs\//)).toBe(0)
  })
})

describe('CACHE_FOREIGN_PULL=authenticated', () => {
  let fake: FakeRegistry
  let strict: RunningCache
  beforeAll(async () => {
    fake = await startFakeRegistry()
    strict = await startCache({
      originUrl: origin.url,
      env: { CACHE_UPSTREAMS: `docker.io=${fake.url}`, CACHE_FOREIGN_PULL: 'authenticated' },
    })
  })
  afterAll(async () => {
    await strict?.close()
    await fake?.close()
  })

  it('serves foreign content only to callers with an origin token for a named account', async () => {
    const c = fake.addBlob('library/busybox', randomBytes(100))
    const scope = 'repository:library/busybox:pull'
    expectChallenge(await blob(strict.url, 'library/busybox', c.digest, { ns: 'docker.io' }), scope)
    const anon = (await getToken(origin.url, [scope])).body.token as string
    expect((await blob(strict.url, 'library/busybox', c.digest, { ns: 'docker.io', token: anon })).status).toBe(401)
    const token = await tokenFor(origin.url, [], alice)
    const ok = await blob(strict.url, 'library/busybox', c.digest, { ns: 'docker.io', token })
    expect(ok.status).toBe(200)
    // the foreign registry is read anonymously: alice's token never leaves for it
    expect(fake.requests.some((r) => r.authorization)).toBe(false)
  })
})
