/**
 * Bit rot: a cached file with one byte flipped (same size) is never served as a complete good response. A full
 * read verifies the digest as it streams and holds back the last byte until it matches (a mismatch cuts the
 * response and drops the entry); after an unclean stop every entry is re-hashed before it is served; a background
 * scrub re-hashes entries at a bounded rate and drops the bad ones. Each time, the next request fills again.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { blob, manifest, manifestFor, metrics, sha256, type Res } from '../helpers/cache-http.ts'
import { startFakeRegistry, type FakeRegistry } from '../helpers/fake-registry.ts'
import { imageConfig, type Content } from '../helpers/oci-fixtures.ts'
import { spawnCache, startCache } from '../helpers/start-cache.ts'

const MiB = 1 << 20
const NS = 'fake.test'
const NO_ORIGIN = 'http://127.0.0.1:1'
const env = { CACHE_UPSTREAMS: `${NS}=${'' /* set in beforeAll */}` }
let fake: FakeRegistry
const dirs: string[] = []

beforeAll(async () => {
  fake = await startFakeRegistry({ chunkSize: 256 * 1024 })
  env.CACHE_UPSTREAMS = `${NS}=${fake.url}`
})

afterAll(async () => {
  await fake?.close()
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

async function dataDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'wharf-cache-rot-'))
  dirs.push(d)
  return d
}

const blobPath = (dir: string, digest: string) => join(dir, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7))

/** Flips one byte in the middle of a cached file; its size stays the same. */
async function flipByte(dir: string, digest: string): Promise<void> {
  const p = blobPath(dir, digest)
  const bytes = await readFile(p)
  bytes[bytes.length >> 1]! ^= 0x01
  await writeFile(p, bytes)
}

const get = (base: string, repo: string, c: Content): Promise<Res | 'aborted'> =>
  blob(base, repo, c.digest, { ns: NS }).catch(() => 'aborted' as const)

/** The client got the right bytes, or a response that was cut short: never a complete wrong one. */
function expectNeverCompleteCorrupt(res: Res | 'aborted', c: Content): void {
  if (res === 'aborted') return
  if (res.status === 200 && res.body.byteLength === c.size) expect(sha256(res.body)).toBe(c.digest)
}

const upstreamGets = (c: Content) => fake.count('GET', new RegExp(`/blobs/${c.digest}$`))

describe('a flipped byte in a cached blob', () => {
  it('after a clean restart: a full read is cut short, never complete; the entry is dropped and filled again', async () => {
    const dir = await dataDir()
    const c = fake.addBlob('lib/rot', randomBytes(3 * MiB))
    const config = fake.addBlob('lib/rot', imageConfig())
    const m = manifestFor(config, [c])
    fake.putManifest('lib/rot', m, 'v1')
    const first = await startCache({ originUrl: NO_ORIGIN, env, dataDir: dir })
    expect(sha256((await blob(first.url, 'lib/rot', c.digest, { ns: NS })).body)).toBe(c.digest)
    expect((await manifest(first.url, 'lib/rot', 'v1', { ns: NS })).status).toBe(200)
    await first.close()
    await flipByte(dir, c.digest)
    await flipByte(dir, m.digest)

    const second = await startCache({ originUrl: NO_ORIGIN, env, dataDir: dir })
    try {
      expectNeverCompleteCorrupt(await get(second.url, 'lib/rot', c), c)
      // the bad entry is gone: the next request fills again from the upstream and gets the right bytes
      const again = await get(second.url, 'lib/rot', c)
      expect(again).not.toBe('aborted')
      if (again !== 'aborted') expect(sha256(again.body)).toBe(c.digest)
      expect(upstreamGets(c)).toBe(2)
      expect(second.deps.store.entry(c.digest)?.size).toBe(c.size)
      // found by the full read's own check (a clean stop trusts the entries: no re-hash at start)
      expect((await metrics(second.url))['wharf_cache_corrupt_entries_total{found_by="read"}']).toBe(1)
      // a manifest read from disk is checked against its digest too
      const mres = await manifest(second.url, 'lib/rot', m.digest, { ns: NS })
      expect(mres.status).toBe(200)
      expect(sha256(mres.body)).toBe(m.digest)
    } finally {
      await second.close()
    }
  })

  it('after an unclean stop: re-hashed before it is served, so the first request already gets the right bytes', async () => {
    const dir = await dataDir()
    const c = fake.addBlob('lib/crash', randomBytes(2 * MiB))
    const killed = await spawnCache({ originUrl: NO_ORIGIN, env, dataDir: dir })
    try {
      expect(sha256((await blob(killed.url, 'lib/crash', c.digest, { ns: NS })).body)).toBe(c.digest)
    } finally {
      await killed.kill('SIGKILL')
    }
    await flipByte(dir, c.digest)

    // the scrub off: the first read alone must re-hash what an unclean stop left unverified
    const again = await startCache({ originUrl: NO_ORIGIN, env: { ...env, CACHE_SCRUB_BYTES_PER_SECOND: '0' }, dataDir: dir })
    try {
      expect(again.deps.repair.unverified).toBe(1)
      const res = await get(again.url, 'lib/crash', c)
      expect(res).not.toBe('aborted')
      if (res !== 'aborted') {
        expect(res.status).toBe(200)
        expect(sha256(res.body)).toBe(c.digest)
      }
      expect(upstreamGets(c)).toBe(2)
      expect((await metrics(again.url))['wharf_cache_corrupt_entries_total{found_by="first read"}']).toBe(1)
    } finally {
      await again.close()
    }
  })

  it('while the cache runs: the scrub finds it and drops it, and the next request fills again', async () => {
    const dir = await dataDir()
    let now = Date.now()
    const c = fake.addBlob('lib/scrub', randomBytes(2 * MiB))
    const good = fake.addBlob('lib/scrub', randomBytes(MiB))
    const cache = await startCache({
      originUrl: NO_ORIGIN,
      env: { ...env, CACHE_SCRUB_BYTES_PER_SECOND: '64MiB', CACHE_SCRUB_INTERVAL: '1h' },
      dataDir: dir,
      now: () => now,
    })
    try {
      for (const x of [c, good]) expect(sha256((await blob(cache.url, 'lib/scrub', x.digest, { ns: NS })).body)).toBe(x.digest)
      await flipByte(dir, c.digest)
      // entries verified within the scrub interval are left alone; an hour later they are due again
      now += 2 * 3_600_000
      for (let i = 0; i < 200 && cache.deps.store.entry(c.digest); i++) await sleep(50)
      expect(cache.deps.store.entry(c.digest)).toBeUndefined()
      for (let i = 0; i < 100 && (cache.deps.store.entry(good.digest)?.verifiedAt ?? 0) < now; i++) await sleep(50)
      expect(cache.deps.store.entry(good.digest)?.verifiedAt).toBe(now)

      const res = await get(cache.url, 'lib/scrub', c)
      expect(res).not.toBe('aborted')
      if (res !== 'aborted') expect(sha256(res.body)).toBe(c.digest)
      expect(upstreamGets(c)).toBe(2)
      expect(upstreamGets(good)).toBe(1)
      const m = await metrics(cache.url)
      expect(m['wharf_cache_corrupt_entries_total{found_by="scrub"}']).toBe(1)
      expect(m['wharf_cache_scrubbed_bytes_total']).toBeGreaterThanOrEqual(c.size + good.size)
    } finally {
      await cache.close()
    }
  })
})
