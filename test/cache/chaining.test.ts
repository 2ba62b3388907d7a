/**
 * Chained caches: cache B's upstream is cache A, whose upstream is the origin. Both trust the origin's JWKS; B
 * forwards the caller's token to A, which verifies it again and forwards it to the origin. A pull through B costs
 * the origin one GET per blob, however many clients ask at once.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiClient, createUser } from '../helpers/api.ts'
import { tokenFor, type Credentials } from '../helpers/auth.ts'
import { blob, errorCode, manifest, sha256, type PushedImage, pushImage } from '../helpers/cache-http.ts'
import { startCountingProxy, type CountingProxy } from '../helpers/counting-proxy.ts'
import { startCache, type RunningCache } from '../helpers/start-cache.ts'
import { startOrigin, TEST_ADMIN, type RunningOrigin } from '../helpers/start-origin.ts'

const MiB = 1 << 20
let origin: RunningOrigin
let proxy: CountingProxy
let parent: RunningCache
let child: RunningCache
let alice: Credentials
let image: PushedImage
let token: string

beforeAll(async () => {
  origin = await startOrigin()
  alice = await createUser(apiClient(origin.url), TEST_ADMIN, 'alice')
  image = await pushImage(origin.url, 'alice/chain', alice, [randomBytes(3 * MiB), randomBytes(MiB)], 'v1')
  proxy = await startCountingProxy(origin.url)
  parent = await startCache({ originUrl: origin.url, upstreamUrl: proxy.url })
  child = await startCache({ originUrl: origin.url, upstreamUrl: parent.url })
  token = await tokenFor(origin.url, ['repository:alice/chain:pull'], alice)
})

afterAll(async () => {
  await child?.close()
  await parent?.close()
  await proxy?.close()
  await origin?.close()
})

describe('a cache whose upstream is another cache', () => {
  it('pulls an image with one origin GET per blob, however many clients ask at once', async () => {
    const m = await manifest(child.url, 'alice/chain', 'v1', { token })
    expect(m.status).toBe(200)
    expect(m.body.equals(image.manifest.bytes)).toBe(true)
    for (const layer of [image.config, ...image.layers]) {
      const all = await Promise.all(
        Array.from({ length: 8 }, () => blob(child.url, 'alice/chain', layer.digest, { token })),
      )
      for (const r of all) {
        expect(r.status).toBe(200)
        expect(sha256(r.body)).toBe(layer.digest)
      }
      expect(proxy.count('GET', new RegExp(`/blobs/${layer.digest}`))).toBe(1)
    }
    expect(proxy.count('GET', /\/manifests\//)).toBe(1)
  })

  it('leaves both caches warm: the parent answers from disk too', async () => {
    const before = proxy.requests.length
    for (const layer of image.layers) {
      const r = await blob(parent.url, 'alice/chain', layer.digest, { token })
      expect(sha256(r.body)).toBe(layer.digest)
    }
    expect(proxy.requests.length).toBe(before)
  })

  it('refuses at the child what the caller may not pull', async () => {
    const bob = await createUser(apiClient(origin.url), TEST_ADMIN, 'bob')
    const bobs = await tokenFor(origin.url, ['repository:alice/chain:pull'], bob)
    const res = await blob(child.url, 'alice/chain', image.layers[0]!.digest, { token: bobs })
    expect(res.status).toBe(401)
    expect(errorCode(res)).toBe('UNAUTHORIZED')
    expect(res.headers['www-authenticate']).toContain(`realm="${origin.url}/auth/token"`)
  })
})
