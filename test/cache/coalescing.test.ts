/**
 * Pull-through from a real origin: many clients asking for the same cold blob at once cost the origin exactly one
 * GET, every client (including one that joins after part of the body arrived) gets the right bytes, and later
 * requests are hits. A counting proxy between cache and origin sees every upstream request and can hold a blob
 * body mid-way, so the test acts while the fill is running without relying on timing.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiClient, createUser } from '../helpers/api.ts'
import { tokenFor, type Credentials } from '../helpers/auth.ts'
import { blob, manifest, metrics, open, readAll, sha256, type PushedImage, pushImage } from '../helpers/cache-http.ts'
import { startCountingProxy, type CountingProxy } from '../helpers/counting-proxy.ts'
import { startCache, type RunningCache } from '../helpers/start-cache.ts'
import { startOrigin, TEST_ADMIN, type RunningOrigin } from '../helpers/start-origin.ts'

const MiB = 1 << 20
let origin: RunningOrigin
let proxy: CountingProxy
let cache: RunningCache
let alice: Credentials
let image: PushedImage
let token: string
const logLines: Record<string, unknown>[] = []

beforeAll(async () => {
  origin = await startOrigin()
  alice = await createUser(apiClient(origin.url), TEST_ADMIN, 'alice')
  image = await pushImage(origin.url, 'alice/app', alice, [randomBytes(4 * MiB)], 'v1')
  proxy = await startCountingProxy(origin.url)
  cache = await startCache({ originUrl: origin.url, upstreamUrl: proxy.url, logLines })
  token = await tokenFor(origin.url, ['repository:alice/app:pull'], alice)
})

afterAll(async () => {
  await cache?.close()
  await proxy?.close()
  await origin?.close()
})

const blobGets = () => proxy.count('GET', /\/blobs\/sha256:/)

describe('a cold blob asked for by many clients at once', () => {
  it('is fetched from the origin once and every client, also one joining mid-fill, gets the right bytes', async () => {
    const layer = image.layers[0]!
    proxy.hold(MiB)
    const early = Array.from({ length: 31 }, () => open(`${cache.url}/v2/alice/app/blobs/${layer.digest}`, { token }))
    // the fill has part of the body and waits for the rest
    await proxy.blobBytesPassed(MiB)
    // a latecomer gets its headers while the upstream body is still held: it joined the running fill
    const late = await open(`${cache.url}/v2/alice/app/blobs/${layer.digest}`, { token })
    expect(late.status).toBe(200)
    expect(late.headers['content-length']).toBe(String(layer.size))
    proxy.release()
    const bodies = await Promise.all(
      [...(await Promise.all(early)), late].map(async (r) => ({ status: r.status, body: await readAll(r.body) })),
    )
    for (const r of bodies) {
      expect(r.status).toBe(200)
      expect(r.body.length).toBe(layer.size)
      expect(sha256(r.body)).toBe(layer.digest)
    }
    expect(blobGets()).toBe(1)

    const lines = logLines.filter((l) => l.msg === 'request' && l.kind === 'blob')
    expect(lines.filter((l) => l.cache === 'miss')).toHaveLength(1)
    expect(lines.filter((l) => l.cache === 'coalesced')).toHaveLength(31)
    const m = await metrics(cache.url)
    expect(m['wharf_cache_coalesced_total']).toBe(31)
    expect(m[`wharf_cache_bytes_from_upstream_total{upstream="${proxy.url}"}`]).toBe(layer.size)
    expect(m['wharf_cache_bytes_to_clients_total']).toBe(32 * layer.size)
  })

  it('is then a hit: served from disk with no upstream request', async () => {
    const layer = image.layers[0]!
    const before = proxy.requests.length
    const res = await blob(cache.url, 'alice/app', layer.digest, { token })
    expect(res.status).toBe(200)
    expect(res.headers['docker-content-digest']).toBe(layer.digest)
    expect(sha256(res.body)).toBe(layer.digest)
    const head = await blob(cache.url, 'alice/app', layer.digest, { token, method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(head.headers['content-length']).toBe(String(layer.size))
    expect(proxy.requests.length).toBe(before)
    expect(logLines.filter((l) => l.msg === 'request' && l.kind === 'blob').at(-1)).toMatchObject({
      cache: 'hit',
      status: 200,
    })
  })

  it('serves the manifest by tag and by digest with its exact bytes, type and digest', async () => {
    const byTag = await manifest(cache.url, 'alice/app', 'v1', { token })
    expect(byTag.status).toBe(200)
    expect(byTag.headers['docker-content-digest']).toBe(image.manifest.digest)
    expect(byTag.headers['content-type']).toBe(image.manifest.mediaType)
    expect(byTag.body.equals(image.manifest.bytes)).toBe(true)
    const byDigest = await manifest(cache.url, 'alice/app', image.manifest.digest, { token })
    expect(byDigest.status).toBe(200)
    expect(byDigest.body.equals(image.manifest.bytes)).toBe(true)
    // the digest was learned with the tag: no second manifest GET upstream
    expect(proxy.count('GET', /\/manifests\//)).toBe(1)
    // containerd names the origin in ?ns= when the cache is its mirror
    const viaNs = await manifest(cache.url, 'alice/app', 'v1', { token, ns: origin.host })
    expect(viaNs.status).toBe(200)
    expect(viaNs.headers['docker-content-digest']).toBe(image.manifest.digest)
    const config = await blob(cache.url, 'alice/app', image.config.digest, { token })
    expect(config.body.equals(image.config.bytes)).toBe(true)
  })
})
