/**
 * Tags through the cache: within CACHE_TAG_TTL a tag is answered without asking the upstream; after it, one HEAD
 * asks whether the tag moved and a GET follows only when it did. The cache's clock is injected, so the TTL passes
 * without waiting. Upstream requests are counted by the test registry.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { call, errorCode, manifest, manifestFor } from '../helpers/cache-http.ts'
import { startFakeRegistry, type FakeRegistry } from '../helpers/fake-registry.ts'
import { imageConfig, type ManifestDoc } from '../helpers/oci-fixtures.ts'
import { startCache, type RunningCache } from '../helpers/start-cache.ts'

const NS = 'fake.test'
let fake: FakeRegistry
let cache: RunningCache
let now = Date.now()
const logLines: Record<string, unknown>[] = []

beforeAll(async () => {
  fake = await startFakeRegistry()
  cache = await startCache({
    originUrl: 'http://127.0.0.1:1',
    env: { CACHE_UPSTREAMS: `${NS}=${fake.url}`, CACHE_TAG_TTL: '1m' },
    now: () => now,
    logLines,
  })
})

afterAll(async () => {
  await cache?.close()
  await fake?.close()
})

function image(repo: string): ManifestDoc {
  const config = fake.addBlob(repo, imageConfig())
  const layer = fake.addBlob(repo, randomBytes(512))
  return manifestFor(config, [layer])
}

const heads = (repo: string) => fake.count('HEAD', new RegExp(`/v2/${repo}/manifests/`))
const gets = (repo: string) => fake.count('GET', new RegExp(`/v2/${repo}/manifests/`))
const lastCache = () => logLines.filter((l) => l.msg === 'request' && l.kind === 'manifest').at(-1)?.cache

describe('a tag', () => {
  const repo = 'lib/moving'
  let first: ManifestDoc
  let second: ManifestDoc

  it('is fetched with one GET the first time', async () => {
    first = image(repo)
    fake.putManifest(repo, first, 'latest')
    const res = await manifest(cache.url, repo, 'latest', { ns: NS })
    expect(res.status).toBe(200)
    expect(res.headers['docker-content-digest']).toBe(first.digest)
    expect([heads(repo), gets(repo)]).toEqual([0, 1])
    expect(lastCache()).toBe('miss')
  })

  it('that moved upstream is not seen before the TTL, and costs no upstream request', async () => {
    second = image(repo)
    fake.putManifest(repo, second, 'latest')
    now += 59_000
    const res = await manifest(cache.url, repo, 'latest', { ns: NS })
    expect(res.headers['docker-content-digest']).toBe(first.digest)
    expect(res.body.equals(first.bytes)).toBe(true)
    const head = await manifest(cache.url, repo, 'latest', { ns: NS, method: 'HEAD' })
    expect(head.headers['docker-content-digest']).toBe(first.digest)
    expect([heads(repo), gets(repo)]).toEqual([0, 1])
    expect(lastCache()).toBe('hit')
  })

  it('is seen after the TTL: a HEAD finds it moved, then a GET fetches it', async () => {
    now += 2_000
    const res = await manifest(cache.url, repo, 'latest', { ns: NS })
    expect(res.headers['docker-content-digest']).toBe(second.digest)
    expect(res.body.equals(second.bytes)).toBe(true)
    expect([heads(repo), gets(repo)]).toEqual([1, 2])
    expect(lastCache()).toBe('miss')
  })

  it('that did not move costs only a HEAD after the TTL', async () => {
    now += 61_000
    const res = await manifest(cache.url, repo, 'latest', { ns: NS })
    expect(res.headers['docker-content-digest']).toBe(second.digest)
    expect([heads(repo), gets(repo)]).toEqual([2, 2])
    expect(lastCache()).toBe('hit')
    // and the check restarted the TTL
    now += 30_000
    await manifest(cache.url, repo, 'latest', { ns: NS })
    expect([heads(repo), gets(repo)]).toEqual([2, 2])
  })

  it('asked for by many clients at once after the TTL is revalidated once', async () => {
    now += 61_000
    const third = image(repo)
    fake.putManifest(repo, third, 'latest')
    const all = await Promise.all(Array.from({ length: 8 }, () => manifest(cache.url, repo, 'latest', { ns: NS })))
    for (const r of all) expect(r.headers['docker-content-digest']).toBe(third.digest)
    expect([heads(repo), gets(repo)]).toEqual([3, 3])
  })

  it('deleted upstream is gone after the TTL (not served stale)', async () => {
    now += 61_000
    fake.deleteTag(repo, 'latest')
    const res = await manifest(cache.url, repo, 'latest', { ns: NS })
    expect(res.status).toBe(404)
    expect(errorCode(res)).toBe('MANIFEST_UNKNOWN')
  })
})

describe('a manifest by digest', () => {
  it('is immutable: cached once, never revalidated', async () => {
    const repo = 'lib/pinned'
    const m = image(repo)
    fake.putManifest(repo, m)
    expect((await manifest(cache.url, repo, m.digest, { ns: NS })).status).toBe(200)
    now += 10 * 60_000
    const again = await manifest(cache.url, repo, m.digest, { ns: NS })
    expect(again.body.equals(m.bytes)).toBe(true)
    expect([heads(repo), gets(repo)]).toEqual([0, 1])
  })
})

describe('the tags list', () => {
  it('is passed through, with the upstream paging Link kept pointing at the cache', async () => {
    const repo = 'lib/many'
    const m = image(repo)
    for (const t of ['a', 'b', 'c']) fake.putManifest(repo, m, t)
    const res = await call(`${cache.url}/v2/${repo}/tags/list?n=2&ns=${NS}`)
    expect(res.status).toBe(200)
    expect(JSON.parse(res.body.toString())).toEqual({ name: repo, tags: ['a', 'b'] })
    expect(res.headers.link).toBe(`</v2/${repo}/tags/list?n=2&last=b&ns=${NS}>; rel="next"`)
    const next = await call(`${cache.url}${/<([^>]+)>/.exec(res.headers.link!)![1]}`)
    expect(JSON.parse(next.body.toString())).toEqual({ name: repo, tags: ['c'] })
  })
})
