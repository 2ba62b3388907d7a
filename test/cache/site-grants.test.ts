/**
 * Redirected blob pulls (docs/network-protocol.md): a blob GET or HEAD carrying `?grant=<jwt>` is verified offline
 * with the origin's keys and needs no Authorization. A valid grant serves from the store, or fills from the wharf
 * upstream with the grant as the only credential (`?grant=` and `Wharf-Fill: <siteId>`). Every bad grant is
 * refused, 401 when it is not a valid grant and 403 when it is for another blob or site or for foreign content, and
 * nothing is fetched upstream for it. The cache marks every request to its wharf upstream with `Wharf-Fill`.
 *
 * "fills a miss through the real origin" needs the origin to accept `?grant=` on blob GETs (the origin's side of
 * the protocol); every other test here is independent of the origin's grant support.
 */
import { generateKeyPair, SignJWT, type CryptoKey } from 'jose'
import { randomBytes, randomUUID } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { OriginDeps } from '../../origin/deps.ts'
import { apiClient, createRepo, createUser } from '../helpers/api.ts'
import { tokenFor, type Credentials } from '../helpers/auth.ts'
import {
  blob,
  call,
  errorCode,
  manifest,
  metrics,
  pushImage,
  sha256,
  type PushedImage,
  type Res,
} from '../helpers/cache-http.ts'
import { startCountingProxy, type CountingProxy } from '../helpers/counting-proxy.ts'
import { startFakeControlPlane, type FakeControlPlane } from '../helpers/fake-control-plane.ts'
import { startFakeRegistry, type FakeRegistry } from '../helpers/fake-registry.ts'
import { startCache, type RunningCache } from '../helpers/start-cache.ts'
import { startOrigin, TEST_ADMIN, type RunningOrigin } from '../helpers/start-origin.ts'
import type { CacheDeps } from '../../cache-node/app.ts'

type Cache = RunningCache & { deps: CacheDeps }

let origin: RunningOrigin & { deps: OriginDeps }
let cp: FakeControlPlane
let proxy: CountingProxy
let hub: FakeRegistry
let cache: Cache
let siteId: string
let alice: Credentials
let image: PushedImage
const REPO = 'alice/private'

beforeAll(async () => {
  origin = await startOrigin()
  const api = apiClient(origin.url)
  alice = await createUser(api, TEST_ADMIN, 'alice')
  await createRepo(api, alice, REPO, 'private')
  await createRepo(api, alice, 'alice/other', 'private')
  image = await pushImage(origin.url, REPO, alice, [randomBytes(48 * 1024), randomBytes(32 * 1024)], 'v1')
  cp = await startFakeControlPlane()
  proxy = await startCountingProxy(origin.url)
  hub = await startFakeRegistry()
  cache = await startCache({
    originUrl: origin.url,
    upstreamUrl: proxy.url,
    env: {
      CACHE_CONTROL_PLANE_URL: cp.url,
      CACHE_JOIN_TOKEN: cp.joinToken(),
      CACHE_SITE_NAME: 'grants-1',
      CACHE_UPSTREAMS: `hub/=${hub.url}`,
    },
  })
  await vi.waitFor(() => expect(cache.deps.site!.identity()).toBeDefined(), { timeout: 10_000 })
  siteId = cache.deps.site!.identity()!.siteId
})

afterAll(async () => {
  await cache?.close()
  await proxy?.close()
  await hub?.close()
  await cp?.close()
  await origin?.close()
})

interface GrantClaims {
  repository?: unknown
  digest?: unknown
  sites?: unknown
  aud?: string
  iss?: string
  exp?: number
}

/** A grant as the origin makes it (signed with its current key), with claims overridable. */
async function mint(claims: GrantClaims = {}, signer?: { kid: string; key: CryptoKey }): Promise<string> {
  const key = signer ?? origin.deps.identity.keys.signing()
  const t = Math.floor(Date.now() / 1000)
  return new SignJWT({
    repository: 'repository' in claims ? claims.repository : REPO,
    digest: 'digest' in claims ? claims.digest : image.layers[1]!.digest,
    sites: 'sites' in claims ? claims.sites : [siteId, 's_00000000000000aa'],
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: key.kid })
    .setIssuer(claims.iss ?? origin.deps.identity.tokens.issuer)
    .setAudience(claims.aud ?? 'wharf-blob-grant')
    .setSubject('alice')
    .setIssuedAt(t - 5)
    .setNotBefore(t - 5)
    .setExpirationTime(claims.exp ?? t + 120)
    .setJti(randomUUID())
    .sign(key.key)
}

function granted(base: string, repo: string, digest: string, grant: string, method: 'GET' | 'HEAD' = 'GET') {
  return call(`${base}/v2/${repo}/blobs/${digest}?grant=${encodeURIComponent(grant)}`, { method })
}

/** Changes one character of a JWT's segment (0 header, 1 payload, 2 signature), in its middle. */
function flip(jwt: string, segment: number): string {
  const parts = jwt.split('.')
  const s = parts[segment]!
  const i = Math.floor(s.length / 2)
  parts[segment] = `${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}`
  return parts.join('.')
}

function message(res: Res): string {
  return (JSON.parse(res.body.toString('utf8')) as { errors: { message: string }[] }).errors[0]!.message
}

describe('a valid grant', () => {
  it('serves a cached blob (GET and HEAD) without Authorization and without asking upstream', async () => {
    const layer = image.layers[0]!
    const token = await tokenFor(origin.url, [`repository:${REPO}:pull`], alice)
    expect((await blob(cache.url, REPO, layer.digest, { token })).status).toBe(200)
    const before = proxy.requests.length
    const grant = await mint({ digest: layer.digest })
    const res = await granted(cache.url, REPO, layer.digest, grant)
    expect(res.status, res.body.toString()).toBe(200)
    expect(sha256(res.body)).toBe(layer.digest)
    const head = await granted(cache.url, REPO, layer.digest, grant, 'HEAD')
    expect(head.status).toBe(200)
    expect(head.headers['content-length']).toBe(String(layer.bytes.length))
    // a grant that expired 3 s ago is inside the 5 s clock tolerance
    const late = await mint({ digest: layer.digest, exp: Math.floor(Date.now() / 1000) - 3 })
    expect((await granted(cache.url, REPO, layer.digest, late)).status).toBe(200)
    expect(proxy.requests.length).toBe(before)

    const m = await metrics(cache.url)
    expect(m['wharf_cache_grants_total{result="accepted"}']).toBeGreaterThanOrEqual(3)

    // the grant pulls count as hits of the repository in the usage sent to the control plane
    await vi.waitFor(async () => {
      await cache.deps.site!.flush()
      const rows = [...cp.totals().entries()].filter(([k]) => k.startsWith(`${REPO}|`)).map(([, v]) => v)
      expect(rows.reduce((s, r) => s + r.hits, 0)).toBeGreaterThanOrEqual(3)
    })
  })

  it('fills a miss through the real origin with the grant as the only credential (needs the origin side)', async () => {
    const layer = image.layers[1]!
    const before = proxy.count('GET', new RegExp(`/blobs/${layer.digest}`))
    const grant = await mint({ digest: layer.digest })
    const res = await granted(cache.url, REPO, layer.digest, grant)
    const fills = proxy.requests.filter((r) => r.method === 'GET' && r.path.includes(`/blobs/${layer.digest}`))
    expect(fills.length).toBe(before + 1)
    expect(fills.at(-1)!.path).toBe(`/v2/${REPO}/blobs/${layer.digest}?grant=${encodeURIComponent(grant)}`)
    expect(res.status, res.body.toString()).toBe(200)
    expect(sha256(res.body)).toBe(layer.digest)
  })
})

describe('a bad grant is refused and nothing is fetched upstream', () => {
  const digest = () => image.layers[1]!.digest
  const cases: [string, () => Promise<{ repo?: string; grant: string }>, 401 | 403][] = [
    ['expired', async () => ({ grant: await mint({ exp: Math.floor(Date.now() / 1000) - 60 }) }), 401],
    ['with a flipped signature character', async () => ({ grant: flip(await mint(), 2) }), 401],
    ['with a flipped payload character', async () => ({ grant: flip(await mint(), 1) }), 401],
    ['with a flipped header character', async () => ({ grant: flip(await mint(), 0) }), 401],
    [
      'for another audience (a registry token)',
      async () => ({ grant: await mint({ aud: origin.deps.identity.tokens.service }) }),
      401,
    ],
    ['from another issuer', async () => ({ grant: await mint({ iss: 'https://evil.example' }) }), 401],
    [
      'signed by a foreign key under the origin key id',
      async () => ({
        grant: await mint(
          {},
          { kid: origin.deps.identity.keys.signing().kid, key: (await generateKeyPair('ES256')).privateKey },
        ),
      }),
      401,
    ],
    [
      'signed by a foreign key of its own',
      async () => ({ grant: await mint({}, { kid: 'evil-key', key: (await generateKeyPair('ES256')).privateKey }) }),
      401,
    ],
    ['that is not a JWT', async () => ({ grant: 'not-a-grant' }), 401],
    ['that is empty', async () => ({ grant: '' }), 401],
    ['for another digest', async () => ({ grant: await mint({ digest: image.layers[0]!.digest }) }), 403],
    ['for another repository', async () => ({ grant: await mint({ repository: 'alice/other' }) }), 403],
    ['for other sites', async () => ({ grant: await mint({ sites: ['s_00000000000000aa'] }) }), 403],
    ['without sites', async () => ({ grant: await mint({ sites: undefined }) }), 403],
    [
      'for a name this cache fills from a foreign registry',
      async () => ({ repo: 'hub/library/busybox', grant: await mint({ repository: 'hub/library/busybox' }) }),
      403,
    ],
  ]

  it.each(cases)('%s', async (_, make, status) => {
    const { repo, grant } = await make()
    const upstream = proxy.requests.length
    const foreign = hub.requests.length
    const refused = (await metrics(cache.url))['wharf_cache_grants_total{result="refused"}'] ?? 0
    for (const method of ['GET', 'HEAD'] as const) {
      const res = await granted(cache.url, repo ?? REPO, digest(), grant, method)
      expect(res.status, res.body.toString()).toBe(status)
      expect(res.headers['www-authenticate']).toBeUndefined()
      if (method === 'GET') {
        expect(errorCode(res)).toBe(status === 401 ? 'UNAUTHORIZED' : 'DENIED')
        if (status === 401) expect(message(res)).toMatch(/grant is invalid or expired .*pull again from the origin/)
      }
    }
    expect(proxy.requests.length).toBe(upstream)
    expect(hub.requests.length).toBe(foreign)
    expect((await metrics(cache.url))['wharf_cache_grants_total{result="refused"}']).toBe(refused + 2)
  })

  it('is not a credential for manifests: they ask for a token as always', async () => {
    const upstream = proxy.requests.length
    const grant = await mint({ digest: image.manifest.digest })
    const res = await call(`${cache.url}/v2/${REPO}/manifests/${image.manifest.digest}?grant=${grant}`)
    expect(res.status).toBe(401)
    expect(res.headers['www-authenticate']).toContain(`scope="repository:${REPO}:pull"`)
    expect((await manifest(cache.url, REPO, 'v1')).status).toBe(401)
    expect(proxy.requests.length).toBe(upstream)
  })
})

describe('requests to the wharf upstream', () => {
  let upstream: FakeRegistry
  const seen: { path: string; headers: IncomingHttpHeaders }[] = []
  beforeAll(async () => {
    upstream = await startFakeRegistry()
    // a wharf upstream answers /v2/ with the origin's challenge: then the cache trusts it with tokens
    upstream.intercept = (req, res, s) => {
      seen.push({ path: s.path, headers: req.headers })
      if (s.path !== '/v2/') return false
      res.writeHead(401, {
        'WWW-Authenticate': `Bearer realm="${origin.url}/auth/token",service="${origin.host}"`,
        'Content-Type': 'application/json',
      })
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"token required","detail":null}]}')
      return true
    }
  })
  afterAll(async () => {
    await upstream?.close()
  })

  it('carry the grant as ?grant= and Wharf-Fill: <siteId>, never an Authorization; token fills are marked too', async () => {
    const c = await startCache({
      originUrl: origin.url,
      upstreamUrl: upstream.url,
      env: { CACHE_CONTROL_PLANE_URL: cp.url, CACHE_JOIN_TOKEN: cp.joinToken(), CACHE_SITE_NAME: 'grants-2' },
    })
    try {
      await vi.waitFor(() => expect(c.deps.site!.identity()).toBeDefined(), { timeout: 10_000 })
      const id = c.deps.site!.identity()!.siteId
      const b = upstream.addBlob('lib/granted', randomBytes(20_000))
      const grant = await mint({ repository: 'lib/granted', digest: b.digest, sites: [id] })
      const res = await granted(c.url, 'lib/granted', b.digest, grant)
      expect(res.status, res.body.toString()).toBe(200)
      expect(sha256(res.body)).toBe(b.digest)
      const fills = seen.filter((s) => s.path.startsWith(`/v2/lib/granted/blobs/${b.digest}`))
      expect(fills.length).toBeGreaterThanOrEqual(1)
      for (const f of fills) {
        expect(f.path).toBe(`/v2/lib/granted/blobs/${b.digest}?grant=${encodeURIComponent(grant)}`)
        expect(f.headers['wharf-fill']).toBe(id)
        expect(f.headers.authorization).toBeUndefined()
      }
      // the trust check (/v2/) that guards forwarding tokens is not needed for a grant
      expect(seen.filter((s) => s.path === '/v2/')).toHaveLength(0)

      // a fill made with a client's token: the token is forwarded, and the origin still learns it is a cache
      const t = upstream.addBlob('alice/tok', randomBytes(1000))
      const token = await tokenFor(origin.url, ['repository:alice/tok:pull'], alice)
      const tokRes = await blob(c.url, 'alice/tok', t.digest, { token })
      expect(tokRes.status, tokRes.body.toString()).toBe(200)
      const tokFill = seen.find((s) => s.path === `/v2/alice/tok/blobs/${t.digest}`)!
      expect(tokFill.headers.authorization).toBe(`Bearer ${token}`)
      expect(tokFill.headers['wharf-fill']).toBe(id)
      expect(seen.find((s) => s.path === '/v2/')!.headers['wharf-fill']).toBe(id)
    } finally {
      await c.close()
    }
  })

  it('from a cache without a site identity say Wharf-Fill: 1, and its grants are refused', async () => {
    const c = await startCache({ originUrl: origin.url, upstreamUrl: upstream.url })
    try {
      const b = upstream.addBlob('alice/plain', randomBytes(1000))
      const before = seen.length
      const grant = await mint({ repository: 'alice/plain', digest: b.digest })
      const refused = await granted(c.url, 'alice/plain', b.digest, grant)
      expect(refused.status).toBe(403)
      expect(message(refused)).toMatch(/has not joined its control plane/)
      expect(seen.length).toBe(before)

      const token = await tokenFor(origin.url, ['repository:alice/plain:pull'], alice)
      expect((await blob(c.url, 'alice/plain', b.digest, { token })).status).toBe(200)
      const fill = seen.find((s) => s.path === `/v2/alice/plain/blobs/${b.digest}`)!
      expect(fill.headers['wharf-fill']).toBe('1')
    } finally {
      await c.close()
    }
  })

  it('go only to the wharf upstream: foreign registries see no Wharf-Fill', async () => {
    const headers: IncomingHttpHeaders[] = []
    hub.intercept = (req) => {
      headers.push(req.headers)
      return false
    }
    try {
      const b = hub.addBlob('library/busybox', randomBytes(500))
      expect((await blob(cache.url, 'hub/library/busybox', b.digest)).status).toBe(200)
      expect(headers.length).toBeGreaterThan(0)
      for (const h of headers) expect(h['wharf-fill']).toBeUndefined()
    } finally {
      hub.intercept = undefined
    }
  })
})
