/**
 * Range requests (RFC 9110) through the cache, from an entry and from a fill still running: the upstream body is
 * held part-way by the test registry, so a range request is answered (206 headers) while the fill waits, and its
 * bytes arrive once the upstream continues. One upstream GET serves it all.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { blob, errorCode, open, readAll, sha256 } from '../helpers/cache-http.ts'
import { startFakeRegistry, writeChunks, type FakeRegistry } from '../helpers/fake-registry.ts'
import type { Content } from '../helpers/oci-fixtures.ts'
import { startCache, type RunningCache } from '../helpers/start-cache.ts'

const NS = 'fake.test'
const SIZE = 2048 * 1024
let fake: FakeRegistry
let cache: RunningCache

beforeAll(async () => {
  fake = await startFakeRegistry()
  cache = await startCache({ originUrl: 'http://127.0.0.1:1', env: { CACHE_UPSTREAMS: `${NS}=${fake.url}` } })
})

afterAll(async () => {
  await cache?.close()
  await fake?.close()
})

const ranged = (c: Content, repo: string, range: string) =>
  blob(cache.url, repo, c.digest, { ns: NS, headers: { range } })

describe('a range of a cached blob', () => {
  let c: Content
  beforeAll(async () => {
    c = fake.addBlob('lib/ranges', randomBytes(SIZE))
    expect((await blob(cache.url, 'lib/ranges', c.digest, { ns: NS })).status).toBe(200)
  })

  const cases: [string, number, number][] = [
    ['bytes=500-1499', 500, 1499],
    ['bytes=500-', 500, SIZE - 1],
    ['bytes=-500', SIZE - 500, SIZE - 1],
    [`bytes=${SIZE - 48}-${SIZE + 5000}`, SIZE - 48, SIZE - 1],
    ['bytes=0-0', 0, 0],
  ]
  for (const [header, start, end] of cases) {
    it(`${header} is a 206 with exactly those bytes`, async () => {
      const res = await ranged(c, 'lib/ranges', header)
      expect(res.status).toBe(206)
      expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/${SIZE}`)
      expect(res.headers['content-length']).toBe(String(end - start + 1))
      expect(res.body.equals(c.bytes.subarray(start, end + 1))).toBe(true)
    })
  }

  it('outside the blob is a 416 naming its size', async () => {
    for (const header of [`bytes=${SIZE}-${SIZE + 10}`, 'bytes=500-0']) {
      const res = await ranged(c, 'lib/ranges', header)
      expect(res.status).toBe(416)
      expect(res.headers['content-range']).toBe(`bytes */${SIZE}`)
      expect(errorCode(res)).toBe('SIZE_INVALID')
    }
    expect(fake.count('GET', new RegExp(c.digest))).toBe(1)
  })
})

describe('a range of a blob being filled', () => {
  it('is answered from the running fill, before and beyond the bytes that have arrived', async () => {
    const c = fake.addBlob('lib/filling', randomBytes(SIZE))
    let go!: () => void
    const gate = new Promise<void>((resolve) => (go = resolve))
    let sentBeforeGate = false
    fake.intercept = (req, res) => {
      if (req.method !== 'GET' || !(req.url ?? '').includes(c.digest)) return false
      res.writeHead(200, { 'Content-Length': c.size, 'Docker-Content-Digest': c.digest })
      // the first 256 KiB, then nothing until the test lets it go
      res.write(c.bytes.subarray(0, 256 * 1024), () => (sentBeforeGate = true))
      void gate.then(() => writeChunks(res, c.bytes.subarray(256 * 1024), 64 * 1024))
      return true
    }
    try {
      // a range request on a miss starts the fill itself
      const early = await open(`${cache.url}/v2/lib/filling/blobs/${c.digest}?ns=${NS}`, {
        headers: { range: 'bytes=1000-9999' },
      })
      const late = await open(`${cache.url}/v2/lib/filling/blobs/${c.digest}?ns=${NS}`, {
        headers: { range: `bytes=${SIZE - 100}-` },
      })
      const whole = await open(`${cache.url}/v2/lib/filling/blobs/${c.digest}?ns=${NS}`)
      // all three answered while the upstream body is held
      expect(sentBeforeGate).toBe(true)
      expect(early.status).toBe(206)
      expect(early.headers['content-range']).toBe(`bytes 1000-9999/${SIZE}`)
      expect(late.status).toBe(206)
      expect(late.headers['content-range']).toBe(`bytes ${SIZE - 100}-${SIZE - 1}/${SIZE}`)
      expect(whole.status).toBe(200)
      go()
      expect((await readAll(early.body)).equals(c.bytes.subarray(1000, 10000))).toBe(true)
      expect((await readAll(late.body)).equals(c.bytes.subarray(SIZE - 100))).toBe(true)
      expect(sha256(await readAll(whole.body))).toBe(c.digest)
      expect(fake.count('GET', new RegExp(c.digest))).toBe(1)
    } finally {
      fake.intercept = undefined
      go()
    }
  })
})
