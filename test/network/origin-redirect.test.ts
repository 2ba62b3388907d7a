import { createRemoteJWKSet, decodeProtectedHeader, generateKeyPair, jwtVerify, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createUser, pushImage, type TinyImage } from '../helpers/api.ts'
import type { Credentials } from '../helpers/auth.ts'
import { site } from '../helpers/fake-control-plane-resolver.ts'
import { startOriginWithControlPlane, type OriginWithControlPlane } from '../helpers/origin-with-control-plane.ts'
import { errorCodes, http, type HttpAuth } from '../helpers/registry-http.ts'
import { TEST_ADMIN } from '../helpers/start-origin.ts'

const parent = site('edge-parent', 'http://parent.example:5002')
const edge = site('edge-1', 'http://edge-1.example:5001/', { parent: 'edge-parent' })

let net: OriginWithControlPlane
let alice: Credentials
let image: TinyImage
let other: TinyImage
const logLines: Record<string, unknown>[] = []

const layer = () => image.blobs[0]!
const layerDigest = () => image.digest(layer())
const blobUrl = (repo: string, digest: string, grant?: string) =>
  `${net.origin.url}/v2/${repo}/blobs/${digest}${grant === undefined ? '' : `?grant=${encodeURIComponent(grant)}`}`

function get(url: string, auth: HttpAuth, headers: Record<string, string> = {}) {
  return http('GET', url, { auth, headers })
}

/** A redirect's grant for alice's pull of a blob. */
async function grantFor(repo: string, digest: string): Promise<string> {
  const res = await get(blobUrl(repo, digest), alice)
  expect(res.status, res.body.toString()).toBe(307)
  return new URL(res.headers.location!).searchParams.get('grant')!
}

function message(res: { body: Buffer }): string {
  return (JSON.parse(res.body.toString()) as { errors: { message: string }[] }).errors[0]!.message
}

beforeAll(async () => {
  net = await startOriginWithControlPlane({ sites: [edge, parent], logLines })
  alice = await createUser(net.api, TEST_ADMIN, 'alice')
  const pushed = await pushImage(net.origin.url, 'alice/app', alice)
  expect(pushed.status, pushed.text).toBe(201)
  image = pushed.image
  const pushedOther = await pushImage(net.origin.url, 'alice/other', alice)
  expect(pushedOther.status, pushedOther.text).toBe(201)
  other = pushedOther.image
  net.fake.assignments.set('alice', 'edge-1')
})
afterAll(async () => {
  await net?.close()
})

describe('redirected blob GET', () => {
  it('sends a user assigned to a site there with a grant naming the whole chain', async () => {
    const res = await get(blobUrl('alice/app', layerDigest()), alice)
    expect(res.status).toBe(307)
    expect(res.headers['content-length']).toBe('0')
    expect(res.headers['cache-control']).toBe('no-store')
    expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0')
    const location = new URL(res.headers.location!)
    expect(`${location.origin}${location.pathname}`).toBe(`http://edge-1.example:5001/v2/alice/app/blobs/${layerDigest()}`)
    const grant = location.searchParams.get('grant')!
    expect([...location.searchParams.keys()]).toEqual(['grant'])

    const header = decodeProtectedHeader(grant)
    expect(header).toMatchObject({ alg: 'ES256', typ: 'JWT', kid: net.origin.deps.identity.keys.signing().kid })
    const jwks = createRemoteJWKSet(new URL('/auth/jwks.json', net.origin.url))
    const { payload } = await jwtVerify(grant, jwks, {
      issuer: net.origin.url,
      audience: 'wharf-blob-grant',
      currentDate: new Date(net.now()),
    })
    expect(payload).toMatchObject({
      iss: net.origin.url,
      aud: 'wharf-blob-grant',
      sub: 'alice',
      repository: 'alice/app',
      digest: layerDigest(),
      sites: [edge.id, parent.id],
    })
    expect(Object.keys(payload).sort()).toEqual(['aud', 'digest', 'exp', 'iat', 'iss', 'jti', 'nbf', 'repository', 'sites', 'sub'])
    expect(payload.exp! - payload.iat!).toBe(120)
    expect(payload.nbf).toBe(payload.iat)
    expect(Math.abs(payload.iat! - net.now() / 1000)).toBeLessThan(30)
    expect(payload.jti).toMatch(/^[\w-]{16,}$/)
    // the service token went to the control plane, which resolved alice
    expect(net.fake.resolves().at(-1)).toMatchObject({ user: 'alice', teams: [], orgs: [], address: '127.0.0.1' })
  })

  it('serves the blob for the grant alone, as a cache fill asks for it (GET, HEAD, Range)', async () => {
    const grant = await grantFor('alice/app', layerDigest())
    const fill = await get(blobUrl('alice/app', layerDigest(), grant), 'none', { 'wharf-fill': edge.id })
    expect(fill.status).toBe(200)
    expect(fill.body.equals(layer())).toBe(true)
    expect(fill.headers['docker-content-digest']).toBe(layerDigest())

    const head = await http('HEAD', blobUrl('alice/app', layerDigest(), grant), { auth: 'none', headers: { 'wharf-fill': edge.id } })
    expect(head.status).toBe(200)
    expect(head.headers['content-length']).toBe(String(layer().length))

    const range = await get(blobUrl('alice/app', layerDigest(), grant), 'none', { 'wharf-fill': edge.id, range: 'bytes=10-19' })
    expect(range.status).toBe(206)
    expect(range.body.equals(layer().subarray(10, 20))).toBe(true)
  })

  it('never redirects a request carrying a grant, even without Wharf-Fill', async () => {
    const grant = await grantFor('alice/app', layerDigest())
    const res = await get(blobUrl('alice/app', layerDigest(), grant), 'none')
    expect(res.status).toBe(200)
    expect(res.body.equals(layer())).toBe(true)
  })

  it('does not redirect HEAD, nor a request with Wharf-Fill', async () => {
    const head = await http('HEAD', blobUrl('alice/app', layerDigest()), { auth: alice })
    expect(head.status).toBe(200)
    expect(head.headers.location).toBeUndefined()
    const fill = await get(blobUrl('alice/app', layerDigest()), alice, { 'Wharf-Fill': '1' })
    expect(fill.status).toBe(200)
    expect(fill.body.equals(layer())).toBe(true)
  })

  it('answers an unknown blob with 404 rather than a redirect', async () => {
    const res = await get(blobUrl('alice/app', `sha256:${'0'.repeat(64)}`), alice)
    expect(res.status).toBe(404)
    expect(errorCodes(res)).toEqual(['BLOB_UNKNOWN'])
  })

  it('still authorizes first: no token, no redirect', async () => {
    const res = await get(blobUrl('alice/app', layerDigest()), 'anonymous')
    expect(res.status).toBe(401)
  })

  it('logs the redirect on the request line and counts it', async () => {
    await grantFor('alice/app', layerDigest())
    const line = logLines.find((l) => l.msg === 'request' && l.status === 307)
    expect(line).toMatchObject({ redirect: 'edge-1', method: 'GET' })
    expect(net.origin.deps.network.redirects!.counts()['edge-1']).toBeGreaterThanOrEqual(1)
  })
})

describe('refused grants', () => {
  it('refuses an expired grant (401)', async () => {
    const grant = await grantFor('alice/app', layerDigest())
    net.advance(120_000 + 6_000)
    const res = await get(blobUrl('alice/app', layerDigest(), grant), 'none', { 'wharf-fill': edge.id })
    expect(res.status).toBe(401)
    expect(errorCodes(res)).toEqual(['UNAUTHORIZED'])
    expect(message(res)).toBe('invalid or expired blob grant')
  })

  it('accepts a grant within the 5 s tolerance past its expiry', async () => {
    const grant = await grantFor('alice/app', layerDigest())
    net.advance(120_000 + 2_000)
    const res = await get(blobUrl('alice/app', layerDigest(), grant), 'none', { 'wharf-fill': edge.id })
    expect(res.status).toBe(200)
  })

  it('refuses a grant for another digest or another repository (403)', async () => {
    const grant = await grantFor('alice/app', layerDigest())
    const otherDigest = await get(blobUrl('alice/app', image.digest(image.blobs[1]!), grant), 'none', { 'wharf-fill': edge.id })
    expect(otherDigest.status).toBe(403)
    expect(errorCodes(otherDigest)).toEqual(['DENIED'])
    const otherRepo = await get(blobUrl('alice/other', layerDigest(), grant), 'none', { 'wharf-fill': edge.id })
    expect(otherRepo.status).toBe(403)
    expect(errorCodes(otherRepo)).toEqual(['DENIED'])
    const otherRepoOwnBlob = await get(blobUrl('alice/other', other.digest(other.blobs[0]!), grant), 'none')
    expect(otherRepoOwnBlob.status).toBe(403)
  })

  it('refuses a tampered payload or signature (401)', async () => {
    const grant = await grantFor('alice/app', layerDigest())
    const [h, p, s] = grant.split('.') as [string, string, string]
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>
    const forgedPayload = Buffer.from(JSON.stringify({ ...claims, exp: (claims.exp as number) + 3600 })).toString('base64url')
    const tampered = [`${h}.${forgedPayload}.${s}`, `${h}.${p}.${s.slice(0, -4)}${s.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`, `${h}.${p}.`, 'not-a-jwt']
    for (const g of tampered) {
      const res = await get(blobUrl('alice/app', layerDigest(), g), 'none', { 'wharf-fill': edge.id })
      expect(res.status, g).toBe(401)
      expect(errorCodes(res)).toEqual(['UNAUTHORIZED'])
    }
  })

  it('refuses a grant signed by another key, under our kid or its own', async () => {
    const { privateKey } = await generateKeyPair('ES256')
    const now = Math.floor(net.now() / 1000)
    for (const kid of [net.origin.deps.identity.keys.signing().kid, 'someone-else']) {
      const forged = await new SignJWT({ repository: 'alice/app', digest: layerDigest(), sites: [edge.id] })
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid })
        .setIssuer(net.origin.url)
        .setAudience('wharf-blob-grant')
        .setSubject('alice')
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime(now + 120)
        .setJti('forged')
        .sign(privateKey)
      const res = await get(blobUrl('alice/app', layerDigest(), forged), 'none', { 'wharf-fill': edge.id })
      expect(res.status).toBe(401)
    }
  })

  it('refuses a grant made with our key for another audience or issuer', async () => {
    const { kid, key } = net.origin.deps.identity.keys.signing()
    const now = Math.floor(net.now() / 1000)
    const make = (iss: string, aud: string) =>
      new SignJWT({ repository: 'alice/app', digest: layerDigest(), sites: [edge.id] })
        .setProtectedHeader({ alg: 'ES256', kid })
        .setIssuer(iss)
        .setAudience(aud)
        .setSubject('alice')
        .setIssuedAt(now)
        .setExpirationTime(now + 120)
        .sign(key)
    for (const g of [await make(net.origin.url, net.origin.host), await make('http://elsewhere.example', 'wharf-blob-grant')]) {
      expect((await get(blobUrl('alice/app', layerDigest(), g), 'none')).status).toBe(401)
    }
    // the same claims with the right issuer and audience pass: the test above is about those two alone
    expect((await get(blobUrl('alice/app', layerDigest(), await make(net.origin.url, 'wharf-blob-grant')), 'none')).status).toBe(200)
  })

  it('accepts grants on the blob route only: not on manifests, uploads or as a bearer token', async () => {
    const grant = await grantFor('alice/app', layerDigest())
    const q = `?grant=${encodeURIComponent(grant)}`
    const manifest = await get(`${net.origin.url}/v2/alice/app/manifests/v1${q}`, 'none')
    expect(manifest.status).toBe(401)
    const upload = await http('POST', `${net.origin.url}/v2/alice/app/blobs/uploads/${q}`, { auth: 'none' })
    expect(upload.status).toBe(401)
    const bearer = { authorization: `Bearer ${grant}` }
    expect((await get(`${net.origin.url}/v2/`, 'none', bearer)).status).toBe(401)
    expect((await get(blobUrl('alice/app', layerDigest()), 'none', bearer)).status).toBe(401)
    expect((await get(`${net.origin.url}/v2/alice/app/manifests/v1`, 'none', bearer)).status).toBe(401)
    expect((await net.api.call('GET', '/me', { bearer: grant })).status).toBe(401)
  })

  it('is never accepted by the registry token service (different audience)', async () => {
    const grant = await grantFor('alice/app', layerDigest())
    expect(await net.origin.deps.identity.tokens.verify(grant)).toBeUndefined()
    // a registry token still verifies there, and is no grant
    const issued = await net.origin.deps.identity.tokens.issue({ kind: 'user', name: 'alice', id: 2, isAdmin: false }, [])
    expect(await net.origin.deps.identity.tokens.verify(issued.token)).toBeDefined()
    const asGrant = await net.origin.deps.network.grants.verify(issued.token, { repository: 'alice/app', digest: layerDigest() })
    expect(asGrant).toMatchObject({ ok: false, reason: 'invalid' })
  })
})

describe("the origin's service token", () => {
  it('is signed by the origin for the control plane and is never a credential at the origin', async () => {
    const sent = net.fake.requests.find((r) => r.outcome === 'ok')!
    expect(sent.claims).toMatchObject({
      iss: net.origin.url,
      sub: 'wharf-origin',
      aud: net.origin.host,
      access: [{ type: 'controlplane', name: 'origin', actions: ['*'] }],
    })
    expect(sent.claims!.exp! - sent.claims!.iat!).toBe(300)
    const token = /^Bearer (\S+)$/.exec(sent.authorization!)![1]!
    expect(await net.origin.deps.identity.tokens.verify(token)).toBeUndefined()
    // nobody can take the name the token carries, either
    expect((await net.api.call('POST', '/accounts', TEST_ADMIN, { name: 'wharf-origin', password: 'a-long-password' })).status).toBe(400)
    expect((await net.api.call('GET', '/me', { bearer: token })).status).toBe(401)
    expect((await get(`${net.origin.url}/v2/`, 'none', { authorization: `Bearer ${token}` })).status).toBe(401)
  })

  it('is renewed before it expires', async () => {
    const before = net.fake.requests.filter((r) => r.outcome === 'ok').at(-1)!.authorization
    net.advance(300_000)
    // the cached answer is long expired too: the origin asks again, with a new token
    const res = await get(blobUrl('alice/app', layerDigest()), alice)
    expect(res.status).toBe(307)
    const after = net.fake.requests.filter((r) => r.outcome === 'ok').at(-1)!
    expect(after.authorization).not.toBe(before)
    expect(net.fake.requests.some((r) => r.outcome === 'refused')).toBe(false)
  })
})
