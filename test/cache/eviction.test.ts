/**
 * The byte cap: fills past CACHE_MAX_BYTES evict the least recently used entries first, never one that is being
 * read, and once fills complete the files in the blob folder never add up to more than the cap. The clock is
 * injected so "least recently used" is exact.
 */
import { randomBytes } from 'node:crypto'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { blob, metrics, open, readAll, sha256 } from '../helpers/cache-http.ts'
import { startFakeRegistry, type FakeRegistry } from '../helpers/fake-registry.ts'
import type { Content } from '../helpers/oci-fixtures.ts'
import { startCache } from '../helpers/start-cache.ts'

const MiB = 1 << 20
const CAP = 52 * MiB
const NS = 'fake.test'
const REPO = 'lib/big'
let fake: FakeRegistry
let cache: Awaited<ReturnType<typeof startCache>>
let now = Date.now()

beforeAll(async () => {
  fake = await startFakeRegistry({ chunkSize: 256 * 1024 })
  cache = await startCache({
    originUrl: 'http://127.0.0.1:1',
    env: { CACHE_UPSTREAMS: `${NS}=${fake.url}`, CACHE_MAX_BYTES: String(CAP) },
    now: () => now,
  })
})

afterAll(async () => {
  await cache?.close()
  await fake?.close()
})

/** Sizes of the files in the cache's blob folder. */
async function filesOnDisk(): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = join(dir, e.name)
      if (e.isDirectory()) await walk(p)
      else out.set(`sha256:${e.name}`, (await stat(p)).size)
    }
  }
  await walk(join(cache.dataDir, 'blobs'))
  return out
}

async function expectUnderCap(): Promise<void> {
  const total = [...(await filesOnDisk()).values()].reduce((a, b) => a + b, 0)
  expect(total).toBeLessThanOrEqual(CAP)
}

/** A GET through the cache at the next tick of the clock, checked for the right bytes. */
async function pull(c: Content): Promise<void> {
  now += 1000
  const res = await blob(cache.url, REPO, c.digest, { ns: NS })
  expect(res.status).toBe(200)
  expect(sha256(res.body)).toBe(c.digest)
}

const upstreamGets = (c: Content) => fake.count('GET', new RegExp(c.digest))

describe('eviction', () => {
  it('takes the least recently used first, skips a blob being read, and keeps the files under the cap', async () => {
    // big enough that a paused reader cannot have it all in socket buffers: its file stays open
    const a = fake.addBlob(REPO, randomBytes(32 * MiB))
    const b = fake.addBlob(REPO, randomBytes(8 * MiB))
    const c = fake.addBlob(REPO, randomBytes(8 * MiB))
    const d = fake.addBlob(REPO, randomBytes(8 * MiB))
    const e = fake.addBlob(REPO, randomBytes(8 * MiB))
    for (const x of [a, b, c]) await pull(x)
    await expectUnderCap()

    // a client starts reading A, then stops: A is in use, and after C and B are used again it is the oldest;
    // C, used before B, is next (not B, which was stored before C)
    now += 1000
    const reading = await open(`${cache.url}/v2/${REPO}/blobs/${a.digest}?ns=${NS}`)
    const first = await (reading.body[Symbol.asyncIterator]().next() as Promise<{ value: Buffer }>)
    reading.body.pause()
    expect(cache.deps.store.isPinned(a.digest)).toBe(true)
    await pull(c)
    await pull(b)

    // D needs room: A is least recently used but being read, so C (next least recently used) goes
    await pull(d)
    let files = await filesOnDisk()
    expect(files.has(a.digest)).toBe(true)
    expect(files.has(c.digest)).toBe(false)
    expect(files.has(b.digest)).toBe(true)
    expect(files.has(d.digest)).toBe(true)
    await expectUnderCap()

    // the reader still gets every byte of A
    const rest = await readAll(reading.body)
    expect(sha256(Buffer.concat([first.value, rest]))).toBe(a.digest)
    // the server side lets go of the file as its stream closes, just after the client has the last bytes
    for (let i = 0; i < 100 && cache.deps.store.isPinned(a.digest); i++) await sleep(20)
    expect(cache.deps.store.isPinned(a.digest)).toBe(false)

    // now A, no longer read and least recently used, makes room for E
    await pull(e)
    files = await filesOnDisk()
    expect(files.has(a.digest)).toBe(false)
    expect([b, d, e].every((x) => files.has(x.digest))).toBe(true)
    await expectUnderCap()

    // C was evicted: asking again fills it again
    expect(upstreamGets(c)).toBe(1)
    await pull(c)
    expect(upstreamGets(c)).toBe(2)
    await expectUnderCap()

    const m = await metrics(cache.url)
    expect(m['wharf_cache_evictions_total']).toBe(2)
    expect(m['wharf_cache_evicted_bytes_total']).toBe(c.size + a.size)
    expect(m['wharf_cache_disk_used_bytes']).toBeLessThanOrEqual(CAP)
    expect(m['wharf_cache_disk_max_bytes']).toBe(CAP)
  })

  it('serves a blob larger than the cap without keeping it or emptying the cache', async () => {
    const before = await filesOnDisk()
    const huge = fake.addBlob(REPO, randomBytes(CAP + MiB))
    await pull(huge)
    const after = await filesOnDisk()
    expect(after.has(huge.digest)).toBe(false)
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort())
    await expectUnderCap()
  })

  it('keeps the cap with many fills at once', async () => {
    const blobs = Array.from({ length: 12 }, () => fake.addBlob(REPO, randomBytes(6 * MiB)))
    now += 1000
    const res = await Promise.all(blobs.map((x) => blob(cache.url, REPO, x.digest, { ns: NS })))
    for (const [i, r] of res.entries()) expect(sha256(r.body)).toBe(blobs[i]!.digest)
    await expectUnderCap()
    expect(cache.deps.store.usedBytes).toBe([...(await filesOnDisk()).values()].reduce((x, y) => x + y, 0))
  })
})
