/**
 * Upstream faults, injected by a small registry on node:http that the cache reaches as a foreign upstream
 * (`?ns=fake.test`): a connection reset mid-body, bytes that do not match their digest, a 500 before a 200, a slow
 * first byte, an upstream that is down or never answers. Whatever happens, a client never receives a complete
 * response with wrong bytes, a failed fill leaves nothing behind, and the next request fills correctly.
 */
import { randomBytes } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { blob, call, errorCode, manifest, manifestFor, metrics, open, readAll, sha256 } from '../helpers/cache-http.ts'
import { sendBlob, startFakeRegistry, writeChunks, type FakeRegistry } from '../helpers/fake-registry.ts'
import { content, imageConfig } from '../helpers/oci-fixtures.ts'
import { startCache } from '../helpers/start-cache.ts'

const MiB = 1 << 20
/** Nothing listens here: an origin that cannot be reached. */
export const NO_ORIGIN = 'http://127.0.0.1:1'
const NS = 'fake.test'

let fake: FakeRegistry
let cache: Awaited<ReturnType<typeof startCache>>
const logLines: Record<string, unknown>[] = []

beforeAll(async () => {
  fake = await startFakeRegistry({ chunkSize: 64 * 1024 })
  cache = await startCache({
    originUrl: NO_ORIGIN,
    env: { CACHE_UPSTREAMS: `${NS}=${fake.url}`, CACHE_UPSTREAM_TIMEOUT: '2s' },
    logLines,
  })
})

afterAll(async () => {
  await cache?.close()
  await fake?.close()
})

afterEach(() => {
  fake.intercept = undefined
})

const isBlobGet = (method: string | undefined, url: string | undefined, digest: string) =>
  method === 'GET' && (url ?? '').includes(`/blobs/${digest}`)

async function cachedFiles(): Promise<string[]> {
  const out: string[] = []
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(join(dir, e.name))
      else out.push(join(dir, e.name))
    }
  }
  await walk(join(cache.dataDir, 'blobs'))
  await walk(join(cache.dataDir, 'tmp'))
  return out
}

/** Nothing of the digest is on disk or in the index. */
async function expectNothingLeft(digest: string): Promise<void> {
  expect(cache.deps.store.entry(digest)).toBeUndefined()
  expect((await cachedFiles()).filter((f) => f.includes(digest.slice(7)) || f.endsWith('.part'))).toEqual([])
}

/** The next GET, with the upstream healthy again, fills and serves the right bytes. */
async function expectRefill(repo: string, c: { digest: string; bytes: Buffer }): Promise<void> {
  const res = await blob(cache.url, repo, c.digest, { ns: NS })
  expect(res.status).toBe(200)
  expect(sha256(res.body)).toBe(c.digest)
  expect(cache.deps.store.entry(c.digest)?.size).toBe(c.bytes.length)
}

describe('a connection reset mid-body', () => {
  it('is resumed with a Range request when it happens once: one fill, the right bytes', async () => {
    const c = fake.addBlob('lib/resume', randomBytes(2 * MiB))
    let resets = 0
    fake.intercept = (req, res) => {
      if (!isBlobGet(req.method, req.url, c.digest) || req.headers.range || resets > 0) return false
      resets++
      res.writeHead(200, { 'Content-Length': c.size, 'Docker-Content-Digest': c.digest })
      res.write(c.bytes.subarray(0, MiB), () => res.destroy())
      return true
    }
    const res = await blob(cache.url, 'lib/resume', c.digest, { ns: NS })
    expect(res.status).toBe(200)
    expect(sha256(res.body)).toBe(c.digest)
    const ranged = fake.requests.filter((r) => r.path.includes(c.digest) && r.range)
    expect(ranged.length).toBe(1)
    expect(ranged[0]!.range).toMatch(/^bytes=\d+-$/)
    expect(Number(/=(\d+)-/.exec(ranged[0]!.range!)![1])).toBeGreaterThan(0)
  })

  it('ends every waiting client with an error when it keeps happening, and leaves nothing behind', async () => {
    const c = fake.addBlob('lib/reset', randomBytes(2 * MiB))
    fake.intercept = (req, res) => {
      if (!isBlobGet(req.method, req.url, c.digest)) return false
      // every attempt, resumes included, breaks off after a little
      const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0)
      const headers: Record<string, string | number> = {
        'Content-Length': c.size - start,
        'Docker-Content-Digest': c.digest,
      }
      if (start > 0) headers['Content-Range'] = `bytes ${start}-${c.size - 1}/${c.size}`
      res.writeHead(start > 0 ? 206 : 200, headers)
      res.write(c.bytes.subarray(start, start + 256 * 1024), () => res.destroy())
      return true
    }
    const clients = await Promise.all([1, 2, 3].map(() => open(`${cache.url}/v2/lib/reset/blobs/${c.digest}?ns=${NS}`)))
    for (const r of clients) {
      expect(r.status).toBe(200)
      await expect(readAll(r.body)).rejects.toThrow()
    }
    // one GET and its resumes (CACHE_UPSTREAM_RETRIES, 2 by default), shared by the three clients
    expect(fake.count('GET', new RegExp(c.digest))).toBe(3)
    await expectNothingLeft(c.digest)
    fake.intercept = undefined
    await expectRefill('lib/reset', c)
  })
})

describe('bytes that do not match their digest', () => {
  it('never complete a response: clients see a cut body and nothing is cached', async () => {
    const c = content(randomBytes(MiB))
    fake.addBlob('lib/corrupt', c)
    const wrong = Buffer.from(c.bytes)
    wrong[wrong.length - 1]! ^= 0xff
    fake.intercept = (req, res) => {
      if (!isBlobGet(req.method, req.url, c.digest)) return false
      sendBlob(req, res, wrong, c.digest)
      return true
    }
    const clients = await Promise.all([1, 2].map(() => open(`${cache.url}/v2/lib/corrupt/blobs/${c.digest}?ns=${NS}`)))
    for (const r of clients) {
      expect(r.status).toBe(200)
      const chunks: Buffer[] = []
      const done = (async () => {
        for await (const chunk of r.body) chunks.push(chunk as Buffer)
      })()
      await expect(done).rejects.toThrow()
      // everything but the last byte may have been sent; the response never completed
      expect(Buffer.concat(chunks).length).toBeLessThan(c.size)
    }
    await expectNothingLeft(c.digest)
    const failed = logLines.find((l) => l.msg === 'fill failed' && l.digest === c.digest)
    expect(failed).toBeDefined()
    fake.intercept = undefined
    await expectRefill('lib/corrupt', c)
  })

  it('are refused for a manifest too: a 502 naming the upstream, nothing cached', async () => {
    const config = fake.addBlob('lib/badman', imageConfig())
    const m = manifestFor(config, [])
    fake.putManifest('lib/badman', m, 'v1')
    fake.intercept = (req, res) => {
      if (req.method !== 'GET' || !(req.url ?? '').includes('/manifests/')) return false
      const body = Buffer.concat([m.bytes, Buffer.from('\n')])
      res.writeHead(200, {
        'Content-Type': m.mediaType,
        'Content-Length': body.length,
        'Docker-Content-Digest': m.digest,
      })
      res.end(body)
      return true
    }
    const res = await manifest(cache.url, 'lib/badman', 'v1', { ns: NS })
    expect(res.status).toBe(502)
    expect(errorCode(res)).toBe('UNKNOWN')
    expect(res.body.toString()).toContain(fake.url)
    expect(cache.deps.store.entry(m.digest)).toBeUndefined()
    fake.intercept = undefined
    const again = await manifest(cache.url, 'lib/badman', 'v1', { ns: NS })
    expect(again.status).toBe(200)
    expect(again.body.equals(m.bytes)).toBe(true)
  })
})

describe('an upstream answering 500', () => {
  it('is retried: a 500 then a 200 gives the client the blob', async () => {
    const c = fake.addBlob('lib/flaky', randomBytes(300 * 1024))
    let failures = 0
    fake.intercept = (req, res) => {
      if (!isBlobGet(req.method, req.url, c.digest) || failures > 0) return false
      failures++
      res.writeHead(500, { 'Content-Type': 'text/plain' })
      res.end('boom')
      return true
    }
    const res = await blob(cache.url, 'lib/flaky', c.digest, { ns: NS })
    expect(res.status).toBe(200)
    expect(sha256(res.body)).toBe(c.digest)
    expect(fake.count('GET', new RegExp(c.digest))).toBe(2)
  })

  it('every time gives a 502 with an error body naming the upstream', async () => {
    const c = fake.addBlob('lib/broken', randomBytes(1024))
    fake.intercept = (req, res) => {
      if (!isBlobGet(req.method, req.url, c.digest)) return false
      res.writeHead(503, { 'Content-Type': 'text/plain' })
      res.end('down for maintenance')
      return true
    }
    const res = await blob(cache.url, 'lib/broken', c.digest, { ns: NS })
    expect(res.status).toBe(502)
    expect(res.headers['content-type']).toMatch(/^application\/json/)
    expect(errorCode(res)).toBe('UNKNOWN')
    expect(res.body.toString()).toContain(`upstream ${fake.url} answered 503`)
    expect(fake.count('GET', new RegExp(c.digest))).toBe(3)
    await expectNothingLeft(c.digest)
  })

  it('404 is BLOB_UNKNOWN, and nothing is kept', async () => {
    const res = await blob(cache.url, 'lib/none', `sha256:${'0'.repeat(64)}`, { ns: NS })
    expect(res.status).toBe(404)
    expect(errorCode(res)).toBe('BLOB_UNKNOWN')
    const m = await manifest(cache.url, 'lib/none', 'latest', { ns: NS })
    expect(m.status).toBe(404)
    expect(errorCode(m)).toBe('MANIFEST_UNKNOWN')
  })
})

describe('upstream concurrency', () => {
  it('is bounded by CACHE_UPSTREAM_CONCURRENCY: more fills wait for a slot', async () => {
    const other = await startFakeRegistry()
    const c2 = await startCache({
      originUrl: NO_ORIGIN,
      env: { CACHE_UPSTREAMS: `${NS}=${other.url}`, CACHE_UPSTREAM_CONCURRENCY: '2' },
    })
    let go!: () => void
    const gate = new Promise<void>((resolve) => (go = resolve))
    const blobs = Array.from({ length: 5 }, () => other.addBlob('lib/many', randomBytes(1000)))
    other.intercept = (req, res) => {
      if (req.method !== 'GET' || !(req.url ?? '').includes('/blobs/')) return false
      void gate.then(() => {
        other.intercept = undefined
        sendBlob(req, res, other.blob(req.url!.split('/blobs/')[1]!)!, '', 64 * 1024)
      })
      return true
    }
    try {
      const pulls = blobs.map((b) => blob(c2.url, 'lib/many', b.digest, { ns: NS }))
      const upstream = c2.deps.router.upstreams().find((u) => u.name === other.url)!
      for (let i = 0; i < 500 && !(upstream.active === 2 && upstream.queued === 3); i++) await sleep(10)
      expect([upstream.active, upstream.queued]).toEqual([2, 3])
      expect(other.count('GET', /\/blobs\//)).toBe(2)
      const m = await metrics(c2.url)
      expect(m[`wharf_cache_upstream_requests_queued{upstream="${other.url}"}`]).toBe(3)
      go()
      for (const [i, r] of (await Promise.all(pulls)).entries()) expect(sha256(r.body)).toBe(blobs[i]!.digest)
      expect(other.count('GET', /\/blobs\//)).toBe(5)
    } finally {
      go()
      await c2.close()
      await other.close()
    }
  })
})

describe('a slow upstream', () => {
  it('with a slow first byte still gets its bytes to the client', async () => {
    const c = fake.addBlob('lib/slow', randomBytes(MiB))
    fake.intercept = (req, res) => {
      if (!isBlobGet(req.method, req.url, c.digest)) return false
      res.writeHead(200, { 'Content-Length': c.size, 'Docker-Content-Digest': c.digest })
      setTimeout(() => writeChunks(res, c.bytes, 64 * 1024), 1500)
      return true
    }
    const res = await blob(cache.url, 'lib/slow', c.digest, { ns: NS })
    expect(res.status).toBe(200)
    expect(sha256(res.body)).toBe(c.digest)
  })

  it('that never answers gives a 504 after CACHE_UPSTREAM_TIMEOUT', async () => {
    const c = fake.addBlob('lib/hang', randomBytes(1024))
    fake.intercept = (req) => isBlobGet(req.method, req.url, c.digest)
    const res = await blob(cache.url, 'lib/hang', c.digest, { ns: NS })
    expect(res.status).toBe(504)
    expect(errorCode(res)).toBe('UNKNOWN')
    expect(res.body.toString()).toContain('did not answer in time')
    await expectNothingLeft(c.digest)
  })
})

describe('an upstream that is down', () => {
  it('still serves what is cached, a tag past its TTL stale, and a clear 502 for what is not', async () => {
    let now = Date.now()
    const other = await startFakeRegistry()
    const c2 = await startCache({
      originUrl: NO_ORIGIN,
      env: { CACHE_UPSTREAMS: `${NS}=${other.url}`, CACHE_TAG_TTL: '1m' },
      now: () => now,
      logLines,
    })
    try {
      const config = other.addBlob('lib/down', imageConfig())
      const layer = other.addBlob('lib/down', randomBytes(4096))
      const missing = other.addBlob('lib/down', randomBytes(4096))
      const m = manifestFor(config, [layer])
      other.putManifest('lib/down', m, 'v1')
      expect((await manifest(c2.url, 'lib/down', 'v1', { ns: NS })).status).toBe(200)
      expect((await blob(c2.url, 'lib/down', layer.digest, { ns: NS })).status).toBe(200)
      await other.close()
      now += 2 * 60_000

      const stale = await manifest(c2.url, 'lib/down', 'v1', { ns: NS })
      expect(stale.status).toBe(200)
      expect(stale.headers['docker-content-digest']).toBe(m.digest)
      expect(stale.headers.warning).toMatch(/^110 /)
      expect(stale.body.equals(m.bytes)).toBe(true)
      expect(logLines.filter((l) => l.msg === 'request' && l.kind === 'manifest').at(-1)).toMatchObject({
        cache: 'stale',
      })

      const cached = await blob(c2.url, 'lib/down', layer.digest, { ns: NS })
      expect(cached.status).toBe(200)
      expect(sha256(cached.body)).toBe(layer.digest)

      const miss = await blob(c2.url, 'lib/down', missing.digest, { ns: NS })
      expect(miss.status).toBe(502)
      expect(errorCode(miss)).toBe('UNKNOWN')
      expect(miss.body.toString()).toContain(`upstream ${other.url} could not be reached`)
      expect(miss.headers['docker-distribution-api-version']).toBe('registry/2.0')
    } finally {
      await c2.close()
    }
  })
})

it('keeps the fill going when its only client goes away, and keeps the blob', async () => {
  const c = fake.addBlob('lib/abandoned', randomBytes(4 * MiB))
  let go!: () => void
  const gate = new Promise<void>((resolve) => (go = resolve))
  fake.intercept = (req, res) => {
    if (!isBlobGet(req.method, req.url, c.digest)) return false
    res.writeHead(200, { 'Content-Length': c.size, 'Docker-Content-Digest': c.digest })
    res.write(c.bytes.subarray(0, 64 * 1024))
    void gate.then(() => writeChunks(res, c.bytes.subarray(64 * 1024), 64 * 1024))
    return true
  }
  const r = await open(`${cache.url}/v2/lib/abandoned/blobs/${c.digest}?ns=${NS}`)
  expect(r.status).toBe(200)
  r.body.destroy()
  go()
  fake.intercept = undefined
  // the fill finishes on its own; the next request is a hit without another upstream GET
  for (let i = 0; i < 200 && !cache.deps.store.entry(c.digest); i++) await sleep(25)
  const res = await blob(cache.url, 'lib/abandoned', c.digest, { ns: NS })
  expect(sha256(res.body)).toBe(c.digest)
  expect(fake.count('GET', new RegExp(c.digest))).toBe(1)
})

it('answers HEAD on a miss from the upstream without filling', async () => {
  const c = fake.addBlob('lib/head', randomBytes(2048))
  const res = await blob(cache.url, 'lib/head', c.digest, { ns: NS, method: 'HEAD' })
  expect(res.status).toBe(200)
  expect(res.headers['content-length']).toBe('2048')
  expect(res.headers['docker-content-digest']).toBe(c.digest)
  expect(fake.count('GET', new RegExp(c.digest))).toBe(0)
  expect(cache.deps.store.entry(c.digest)).toBeUndefined()
  expect((await call(`${cache.url}/v2/lib/head/blobs/${c.digest}?ns=${NS}`)).status).toBe(200)
})
