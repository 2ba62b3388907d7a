/**
 * The cap holds while fills run, not only once they are done: the cache's data folder, walked over and over while
 * fills are in flight, never holds more than CACHE_MAX_BYTES of blob files (entries and fills in progress) plus the
 * index database. A fill whose upstream sends no Content-Length stops writing at the room it has and goes on as a
 * pass-through; fills reserve their declared length before writing; a blob larger than the cap is streamed through
 * to its clients, verified, and not kept.
 */
import { randomBytes } from 'node:crypto'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ServerResponse } from 'node:http'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { blob, call, sha256, type Res } from '../helpers/cache-http.ts'
import { startFakeRegistry, type FakeRegistry } from '../helpers/fake-registry.ts'
import { content, type Content } from '../helpers/oci-fixtures.ts'
import { startCache } from '../helpers/start-cache.ts'

const MiB = 1 << 20
const CAP = 8 * MiB
/** What the data folder may hold beyond the cap: the SQLite index and its WAL (README, cache node, Store). */
const INDEX_SLACK = 4 * MiB
const NS = 'fake.test'
const REPO = 'lib/cap'
let fake: FakeRegistry
let cache: Awaited<ReturnType<typeof startCache>>

beforeAll(async () => {
  fake = await startFakeRegistry({ chunkSize: 256 * 1024 })
  cache = await startCache({
    originUrl: 'http://127.0.0.1:1',
    env: { CACHE_UPSTREAMS: `${NS}=${fake.url}`, CACHE_MAX_BYTES: String(CAP) },
  })
})

afterAll(async () => {
  await cache?.close()
  await fake?.close()
})

afterEach(() => {
  fake.intercept = undefined
})

/** Bytes in the data folder: blob files (entries and fills in progress), and the index files. */
async function usage(): Promise<{ blobs: number; index: number }> {
  let blobs = 0
  let index = 0
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = join(dir, e.name)
      if (e.isDirectory()) await walk(p)
      else {
        const size = await stat(p).then((s) => s.size, () => 0)
        if (e.name.startsWith('index.db')) index += size
        else blobs += size
      }
    }
  }
  await walk(cache.dataDir)
  return { blobs, index }
}

/** Walks the data folder until `work` settles; answers the largest usage seen. */
async function watched<T>(work: Promise<T>): Promise<{ value: T; maxBlobs: number; maxTotal: number }> {
  let done = false
  let maxBlobs = 0
  let maxTotal = 0
  const sampler = (async () => {
    while (!done) {
      const u = await usage()
      maxBlobs = Math.max(maxBlobs, u.blobs)
      maxTotal = Math.max(maxTotal, u.blobs + u.index)
      await sleep(2)
    }
  })()
  try {
    const value = await work
    return { value, maxBlobs, maxTotal }
  } finally {
    done = true
    await sampler
  }
}

/** Sends `body` for GETs of `digest`, slowly and without Content-Length (chunked). */
function chunkedUpstream(digest: string, body: Buffer, withLength = false): void {
  fake.intercept = (req, res) => {
    if (req.method !== 'GET' || !(req.url ?? '').includes(`/blobs/${digest}`)) return false
    res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      ...(withLength ? { 'Content-Length': body.byteLength } : {}),
    })
    void slowly(res, body)
    return true
  }
}

async function slowly(res: ServerResponse, body: Buffer): Promise<void> {
  for (let off = 0; off < body.byteLength && !res.destroyed; off += 256 * 1024) {
    if (!res.write(body.subarray(off, off + 256 * 1024))) await new Promise((r) => res.once('drain', r))
    await sleep(1)
  }
  res.end()
}

/** A GET through the cache; a response cut short is 'aborted'. */
const get = (c: Content, headers: Record<string, string> = {}): Promise<Res | 'aborted'> =>
  blob(cache.url, REPO, c.digest, { ns: NS, headers }).catch(() => 'aborted' as const)

/** The fill's file goes (and its room is given back) once its last reader let go, just after the response. */
async function expectNoFillFiles(): Promise<void> {
  for (let i = 0; i < 100 && (await readdir(join(cache.dataDir, 'tmp'))).length > 0; i++) await sleep(20)
  expect(await readdir(join(cache.dataDir, 'tmp'))).toEqual([])
  expect(cache.deps.store.reservedBytes).toBe(0)
}

function expectUnder(seen: { maxBlobs: number; maxTotal: number }): void {
  expect(seen.maxBlobs).toBeLessThanOrEqual(CAP)
  expect(seen.maxTotal).toBeLessThanOrEqual(CAP + INDEX_SLACK)
}

describe('a fill without Content-Length', () => {
  it('stops writing at the room it has, streams the rest through, and keeps nothing', async () => {
    const big = content(randomBytes(3 * CAP))
    fake.addBlob(REPO, big)
    chunkedUpstream(big.digest, big.bytes)
    const seen = await watched(get(big))
    expectUnder(seen)
    const res = seen.value
    expect(res).not.toBe('aborted')
    if (res === 'aborted') return
    expect(res.status).toBe(200)
    expect(sha256(res.body)).toBe(big.digest)
    expect(cache.deps.store.entry(big.digest)).toBeUndefined()
    expect((await usage()).blobs).toBe(cache.deps.store.usedBytes)
  })

  it('that sends far more than its digest is cut off, never exceeds the cap, and is never served complete', async () => {
    const small = content(randomBytes(MiB))
    fake.addBlob(REPO, small)
    chunkedUpstream(small.digest, randomBytes(5 * CAP))
    const seen = await watched(get(small))
    expectUnder(seen)
    const res = seen.value
    if (res !== 'aborted') expect(res.status === 200 && sha256(res.body) === small.digest).toBe(false)
    expect(cache.deps.store.entry(small.digest)).toBeUndefined()
    await expectNoFillFiles()
  })
})

describe('concurrent fills', () => {
  it('reserve their declared length first, so together they never pass the cap', async () => {
    const blobs = Array.from({ length: 5 }, () => fake.addBlob(REPO, randomBytes(3 * MiB)))
    fake.intercept = (req, res) => {
      const c = blobs.find((b) => req.method === 'GET' && (req.url ?? '').includes(b.digest))
      if (!c) return false
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': c.size })
      void slowly(res, c.bytes)
      return true
    }
    const seen = await watched(Promise.all(blobs.map((b) => get(b))))
    expectUnder(seen)
    for (const [i, r] of seen.value.entries()) {
      expect(r).not.toBe('aborted')
      if (r !== 'aborted') expect(sha256(r.body)).toBe(blobs[i]!.digest)
    }
    const u = await usage()
    expect(u.blobs).toBeLessThanOrEqual(CAP)
    expect(u.blobs).toBe(cache.deps.store.usedBytes)
    expect(cache.deps.store.reservedBytes).toBe(0)
  })
})

describe('a blob larger than the cap', () => {
  it('is streamed through to every client, verified, and not kept', async () => {
    const huge = fake.addBlob(REPO, randomBytes(CAP + 4 * MiB))
    chunkedUpstream(huge.digest, huge.bytes, true)
    const seen = await watched(Promise.all([get(huge), get(huge), get(huge, { range: `bytes=${5 * MiB}-${6 * MiB - 1}` })]))
    expectUnder(seen)
    const [a, b, part] = seen.value
    for (const r of [a, b]) {
      expect(r).not.toBe('aborted')
      if (r !== 'aborted') {
        expect(r.status).toBe(200)
        expect(r.headers['content-length']).toBe(String(huge.size))
        expect(sha256(r.body)).toBe(huge.digest)
      }
    }
    expect(part).not.toBe('aborted')
    if (part !== 'aborted') {
      expect(part.status).toBe(206)
      expect(part.body.equals(huge.bytes.subarray(5 * MiB, 6 * MiB))).toBe(true)
    }
    expect(cache.deps.store.entry(huge.digest)).toBeUndefined()
    await expectNoFillFiles()
  })

  it('whose bytes do not match its digest is cut short, never completed', async () => {
    const huge = content(randomBytes(CAP + MiB))
    fake.addBlob(REPO, huge)
    const wrong = Buffer.from(huge.bytes)
    wrong[wrong.length - 10]! ^= 0xff
    chunkedUpstream(huge.digest, wrong, true)
    const seen = await watched(get(huge))
    expectUnder(seen)
    const res = seen.value
    if (res !== 'aborted') expect(res.status === 200 && res.body.byteLength === huge.size).toBe(false)
    // and the next request (upstream honest again) is served right
    fake.intercept = undefined
    const again = await call(`${cache.url}/v2/${REPO}/blobs/${huge.digest}?ns=${NS}`)
    expect(sha256(again.body)).toBe(huge.digest)
  })
})
