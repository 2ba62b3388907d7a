/**
 * Restarts: the index and the files agree after a crash (entries without files and files without entries are
 * repaired at start), a cache SIGKILLed mid-fill restarts with no partial entry and fills again correctly, and a
 * cache restarted while its origin is down still verifies tokens and serves what it holds.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readdir, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiClient, createUser } from '../helpers/api.ts'
import { tokenFor } from '../helpers/auth.ts'
import { blob, call, manifest, metrics, open, pushImage, sha256 } from '../helpers/cache-http.ts'
import { startFakeRegistry, writeChunks, type FakeRegistry } from '../helpers/fake-registry.ts'
import { spawnCache, startCache } from '../helpers/start-cache.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'

const MiB = 1 << 20
const NS = 'fake.test'
const NO_ORIGIN = 'http://127.0.0.1:1'
let fake: FakeRegistry
const dirs: string[] = []

beforeAll(async () => {
  fake = await startFakeRegistry()
})

afterAll(async () => {
  await fake?.close()
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

async function dataDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'wharf-cache-restart-'))
  dirs.push(d)
  return d
}

const blobPath = (dir: string, digest: string) => join(dir, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7))

async function files(dir: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(join(d, e.name))
      else out.push(join(d, e.name))
    }
  }
  await walk(dir)
  return out
}

describe('start-up repair', () => {
  it('drops entries whose file is gone or wrong, files with no entry and leftover fills', async () => {
    const dir = await dataDir()
    const env = { CACHE_UPSTREAMS: `${NS}=${fake.url}` }
    const [kept, lost, cut] = [1, 2, 3].map(() => fake.addBlob('lib/repair', randomBytes(100 * 1024)))
    const first = await startCache({ originUrl: NO_ORIGIN, env, dataDir: dir })
    for (const c of [kept!, lost!, cut!])
      expect((await blob(first.url, 'lib/repair', c.digest, { ns: NS })).status).toBe(200)
    await first.close()

    // what a crash (or a hand in the folder) can leave behind
    await rm(blobPath(dir, lost!.digest))
    await truncate(blobPath(dir, cut!.digest), 1000)
    const stray = randomBytes(32).toString('hex')
    const strayDigest = `sha256:${stray}${stray}`
    await mkdir(dirname(blobPath(dir, strayDigest)), { recursive: true })
    await writeFile(blobPath(dir, strayDigest), 'not what the digest says')
    await writeFile(join(dir, 'tmp', 'abc.part'), 'half a fill')

    const second = await startCache({ originUrl: NO_ORIGIN, env, dataDir: dir })
    try {
      expect(second.deps.repair).toEqual({ filesRemoved: 2, entriesRemoved: 2, tmpRemoved: 1, unverified: 0 })
      expect((await files(dir)).filter((f) => !f.endsWith('.db') && !f.includes('.db-')).sort()).toEqual([
        blobPath(dir, kept!.digest),
      ])
      // the kept one is a hit; the others are filled again, with the right bytes
      for (const c of [kept!, lost!, cut!]) {
        const res = await blob(second.url, 'lib/repair', c.digest, { ns: NS })
        expect(sha256(res.body)).toBe(c.digest)
      }
      expect(fake.count('GET', new RegExp(kept!.digest))).toBe(1)
      expect(fake.count('GET', new RegExp(lost!.digest))).toBe(2)
      expect(fake.count('GET', new RegExp(cut!.digest))).toBe(2)
      expect(second.deps.store.usedBytes).toBe(3 * 100 * 1024)
    } finally {
      await second.close()
    }
  })
})

describe('a cached file removed while the cache runs', () => {
  it('is filled again on the next request instead of cutting the response', async () => {
    const dir = await dataDir()
    const c = fake.addBlob('lib/vanished', randomBytes(64 * 1024))
    const cache = await startCache({
      originUrl: NO_ORIGIN,
      env: { CACHE_UPSTREAMS: `${NS}=${fake.url}` },
      dataDir: dir,
    })
    try {
      expect((await blob(cache.url, 'lib/vanished', c.digest, { ns: NS })).status).toBe(200)
      await rm(blobPath(dir, c.digest))
      const res = await blob(cache.url, 'lib/vanished', c.digest, { ns: NS })
      expect(res.status).toBe(200)
      expect(sha256(res.body)).toBe(c.digest)
      expect(fake.count('GET', new RegExp(c.digest))).toBe(2)
      expect(cache.deps.store.usedBytes).toBe(c.size)
    } finally {
      await cache.close()
    }
  })
})

describe('a cache killed mid-fill', () => {
  it('restarts clean: no partial entry, and a new GET fills correctly', async () => {
    const dir = await dataDir()
    const env = { CACHE_UPSTREAMS: `${NS}=${fake.url}` }
    const c = fake.addBlob('lib/killed', randomBytes(8 * MiB))
    fake.intercept = (req, res) => {
      if (req.method !== 'GET' || !(req.url ?? '').includes(c.digest)) return false
      res.writeHead(200, { 'Content-Length': c.size, 'Docker-Content-Digest': c.digest })
      // half the blob, then nothing: the fill is running when the cache dies
      writeChunks(res, c.bytes.subarray(0, 4 * MiB), 256 * 1024)
      return true
    }
    const cache = await spawnCache({ originUrl: NO_ORIGIN, env, dataDir: dir })
    try {
      const reader = await open(`${cache.url}/v2/lib/killed/blobs/${c.digest}?ns=${NS}`)
      expect(reader.status).toBe(200)
      // bytes reach the client only through the fill's file, so part of the blob is on disk now
      await reader.body[Symbol.asyncIterator]().next()
      const partial = (await files(join(dir, 'tmp'))).filter((f) => f.endsWith('.part'))
      expect(partial).toHaveLength(1)
      await cache.kill('SIGKILL')
      reader.body.destroy()
    } finally {
      await cache.kill('SIGKILL')
      fake.intercept = undefined
    }

    const again = await spawnCache({ originUrl: NO_ORIGIN, env, dataDir: dir })
    try {
      expect(await files(join(dir, 'tmp'))).toEqual([])
      expect(await files(join(dir, 'blobs'))).toEqual([])
      expect((await metrics(again.url))['wharf_cache_entries']).toBe(0)
      const res = await blob(again.url, 'lib/killed', c.digest, { ns: NS })
      expect(res.status).toBe(200)
      expect(sha256(res.body)).toBe(c.digest)
      expect(await files(join(dir, 'blobs'))).toEqual([blobPath(dir, c.digest)])
      expect((await metrics(again.url))['wharf_cache_entries']).toBe(1)
    } finally {
      await again.close()
    }
  })
})

describe('a cache restarted while its origin is down', () => {
  it('still verifies tokens with the keys it learned, challenges with the realm, and serves what it holds', async () => {
    const origin = await startOrigin()
    const dir = await dataDir()
    let originUp = true
    try {
      const alice = await createUser(apiClient(origin.url), TEST_ADMIN, 'alice')
      const image = await pushImage(origin.url, 'alice/offline', alice, [randomBytes(4096)], 'v1')
      const token = await tokenFor(origin.url, ['repository:alice/offline:pull'], alice)
      const first = await startCache({ originUrl: origin.url, dataDir: dir })
      expect((await manifest(first.url, 'alice/offline', 'v1', { token })).status).toBe(200)
      for (const b of [image.config, ...image.layers])
        expect((await blob(first.url, 'alice/offline', b.digest, { token })).status).toBe(200)
      await first.close()
      await origin.close()
      originUp = false

      const second = await startCache({ originUrl: origin.url, dataDir: dir })
      try {
        expect((await call(`${second.url}/v2/`, { token })).status).toBe(200)
        const m = await manifest(second.url, 'alice/offline', 'v1', { token })
        expect(m.status).toBe(200)
        expect(m.body.equals(image.manifest.bytes)).toBe(true)
        const layer = await blob(second.url, 'alice/offline', image.layers[0]!.digest, { token })
        expect(sha256(layer.body)).toBe(image.layers[0]!.digest)
        const refused = await blob(second.url, 'alice/offline', image.layers[0]!.digest)
        expect(refused.status).toBe(401)
        expect(refused.headers['www-authenticate']).toContain(`realm="${origin.url}/auth/token"`)
      } finally {
        await second.close()
      }
    } finally {
      if (originUp) await origin.close()
    }
  })
})
