/**
 * Usage delivery to the control plane: per-repository, per-hour counters of requests, hits, misses and bytes are
 * closed into batches in the outbox (in the index, so they survive a restart) and delivered in order; a batch is
 * deleted only once acknowledged, so failures (503, a dropped connection, a lost or cut answer) delay counts and
 * never lose or double them: the control plane sees a resent batch under the same id.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { blob, metrics } from '../helpers/cache-http.ts'
import { startFakeControlPlane, type FakeControlPlane } from '../helpers/fake-control-plane.ts'
import { startFakeRegistry, type FakeRegistry } from '../helpers/fake-registry.ts'
import { startCache, type RunningCache } from '../helpers/start-cache.ts'
import type { CacheDeps } from '../../cache-node/app.ts'

const NO_ORIGIN = 'http://127.0.0.1:1'
const NS = 'fake.test'
const H14 = '2026-11-23T14:00:00.000Z'
const H15 = '2026-11-23T15:00:00.000Z'
let cp: FakeControlPlane
let fake: FakeRegistry
const dirs: string[] = []
let sites = 0

beforeAll(async () => {
  cp = await startFakeControlPlane()
  fake = await startFakeRegistry()
})

afterAll(async () => {
  await cp?.close()
  await fake?.close()
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

type Cache = RunningCache & { deps: CacheDeps }

/** A cache joined as a new site, on a clock the test moves. */
async function joinedCache(
  opts: { dataDir?: string; env?: Record<string, string>; clock?: { t: number } } = {},
): Promise<Cache> {
  const clock = opts.clock ?? { t: Date.parse('2026-11-23T14:10:00Z') }
  const c = await startCache({
    originUrl: NO_ORIGIN,
    dataDir: opts.dataDir,
    now: () => clock.t,
    env: {
      CACHE_CONTROL_PLANE_URL: cp.url,
      CACHE_JOIN_TOKEN: cp.joinToken(),
      CACHE_SITE_NAME: `metrics-${++sites}`,
      CACHE_UPSTREAMS: `${NS}=${fake.url}`,
      ...opts.env,
    },
  })
  await vi.waitFor(() => expect(c.deps.site!.identity()).toBeDefined(), { timeout: 10_000 })
  return c
}

/** Waits until the cache has recorded this many finished content requests (their log line runs on close). */
async function settled(c: Cache, n: number): Promise<void> {
  await vi.waitFor(async () => {
    const m = await metrics(c.url)
    const done = Object.entries(m)
      .filter(([k]) => k.startsWith('wharf_cache_requests_total{'))
      .reduce((s, [, v]) => s + v, 0)
    expect(done).toBe(n)
  })
}

const postsOf = (c: Cache) => cp.metricsPosts.filter((p) => p.siteId === c.deps.site!.identity()!.siteId)
const batchesOf = (c: Cache) =>
  [...cp.batches.entries()].filter(([, b]) => b.siteId === c.deps.site!.identity()!.siteId)

describe('usage batches', () => {
  it('count requests, hits, misses and bytes per repository and hour', async () => {
    const clock = { t: Date.parse('2026-11-23T14:10:00Z') }
    const c = await joinedCache({ clock })
    try {
      const a = fake.addBlob('lib/a', randomBytes(5000))
      const b = fake.addBlob('lib/b', randomBytes(3000))
      expect((await blob(c.url, 'lib/a', a.digest, { ns: NS })).status).toBe(200) // miss
      expect((await blob(c.url, 'lib/a', a.digest, { ns: NS })).status).toBe(200) // hit
      expect((await blob(c.url, 'lib/a', a.digest, { ns: NS, method: 'HEAD' })).status).toBe(200) // hit, no body
      expect((await blob(c.url, 'lib/b', b.digest, { ns: NS })).status).toBe(200) // miss
      expect((await blob(c.url, 'lib/nope', b.digest, { ns: NS })).status).toBe(404) // not counted
      await settled(c, 5)
      clock.t = Date.parse('2026-11-23T15:05:00Z')
      expect((await blob(c.url, 'lib/a', a.digest, { ns: NS })).status).toBe(200) // hit, next hour
      await settled(c, 6)

      await c.deps.site!.flush()
      const siteId = c.deps.site!.identity()!.siteId
      expect(postsOf(c).map((p) => p.batch)).toEqual([`${siteId}-1`])
      const entries = postsOf(c)[0]!.entries
      expect(entries.sort((x, y) => `${x.hour}${x.repository}`.localeCompare(`${y.hour}${y.repository}`))).toEqual([
        {
          repository: 'lib/a',
          hour: H14,
          requests: 3,
          hits: 2,
          misses: 1,
          bytesToClients: 10000,
          bytesFromUpstream: 5000,
        },
        {
          repository: 'lib/b',
          hour: H14,
          requests: 1,
          hits: 0,
          misses: 1,
          bytesToClients: 3000,
          bytesFromUpstream: 3000,
        },
        { repository: 'lib/a', hour: H15, requests: 1, hits: 1, misses: 0, bytesToClients: 5000, bytesFromUpstream: 0 },
      ])
      expect(c.deps.index.outboxCount()).toBe(0)

      // nothing new: no empty batch
      await c.deps.site!.flush()
      expect(postsOf(c)).toHaveLength(1)
      const m = await metrics(c.url)
      expect(m['wharf_cache_metrics_outbox_batches']).toBe(0)
      expect(m['wharf_cache_metrics_batches_total{event="delivered"}']).toBe(1)
    } finally {
      await c.close()
    }
  })

  it('stay in the outbox through failures and are counted once, in order', async () => {
    const c = await joinedCache()
    try {
      const x = fake.addBlob('lib/x', randomBytes(2000))
      const siteId = c.deps.site!.identity()!.siteId

      cp.fail('metrics', '503')
      expect((await blob(c.url, 'lib/x', x.digest, { ns: NS })).status).toBe(200)
      await settled(c, 1)
      await c.deps.site!.flush()
      expect(c.deps.index.outboxCount()).toBe(1)
      expect((await metrics(c.url))['wharf_cache_metrics_outbox_batches']).toBe(1)

      cp.fail('metrics', 'drop')
      await c.deps.site!.flush()
      expect(c.deps.index.outboxCount()).toBe(1)
      expect(postsOf(c)).toHaveLength(0)

      // counted by the control plane, but the answer is lost: the batch stays, and a second one queues behind it
      cp.fail('metrics', 'lose-answer', 1)
      expect((await blob(c.url, 'lib/x', x.digest, { ns: NS })).status).toBe(200)
      await settled(c, 2)
      await c.deps.site!.flush()
      expect(c.deps.index.outboxCount()).toBe(2)

      // the same batch again; the answer starts and breaks off
      cp.fail('metrics', 'cut-answer', 1)
      await c.deps.site!.flush()
      expect(c.deps.index.outboxCount()).toBe(2)

      cp.fail('metrics', undefined)
      await c.deps.site!.flush()
      expect(c.deps.index.outboxCount()).toBe(0)

      const b1 = `${siteId}-1`
      const b2 = `${siteId}-2`
      expect(postsOf(c).map((p) => [p.batch, p.duplicate])).toEqual([
        [b1, false],
        [b1, true],
        [b1, true],
        [b2, false],
      ])
      expect(batchesOf(c).map(([id]) => id)).toEqual([b1, b2])
      expect(cp.totals().get(`lib/x|${H14}`)).toEqual({
        requests: 2,
        hits: 1,
        misses: 1,
        bytesToClients: 4000,
        bytesFromUpstream: 2000,
      })
    } finally {
      cp.fail('metrics', undefined)
      await c.close()
    }
  })

  it('survive a restart of the cache: a graceful stop keeps the last counts in the outbox on disk', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wharf-cache-outbox-'))
    dirs.push(dir)
    const y = fake.addBlob('lib/y', randomBytes(1500))
    const first = await joinedCache({ dataDir: dir })
    const siteId = first.deps.site!.identity()!.siteId
    cp.fail('metrics', '503')
    try {
      for (let i = 0; i < 3; i++) expect((await blob(first.url, 'lib/y', y.digest, { ns: NS })).status).toBe(200)
      await settled(first, 3)
    } finally {
      // no flush: closing closes the counters into the outbox and tries once
      await first.close()
    }
    expect(batchesOf(first)).toHaveLength(0)
    const db = new Database(join(dir, 'index.db'), { readonly: true })
    try {
      const rows = db.prepare('SELECT batch, payload FROM metrics_outbox').all() as { batch: string; payload: string }[]
      expect(rows.map((r) => r.batch)).toEqual([`${siteId}-1`])
      expect(JSON.parse(rows[0]!.payload)).toMatchObject({
        batch: `${siteId}-1`,
        entries: [{ repository: 'lib/y', requests: 3 }],
      })
    } finally {
      db.close()
    }

    cp.fail('metrics', undefined)
    const second = await joinedCache({ dataDir: dir, env: { CACHE_JOIN_TOKEN: '' } })
    try {
      expect(second.deps.site!.identity()!.siteId).toBe(siteId)
      // delivered at start, without waiting for a flush
      await vi.waitFor(() => expect(batchesOf(second).map(([id]) => id)).toEqual([`${siteId}-1`]), {
        timeout: 10_000,
      })
      expect(cp.totals().get(`lib/y|${H14}`)).toMatchObject({ requests: 3, hits: 2, misses: 1 })
      // the sequence goes on from where it was
      expect((await blob(second.url, 'lib/y', y.digest, { ns: NS })).status).toBe(200)
      await settled(second, 1)
      await second.deps.site!.flush()
      expect(batchesOf(second).map(([id]) => id)).toEqual([`${siteId}-1`, `${siteId}-2`])
    } finally {
      await second.close()
    }
  })

  it('wait for a site id: what is counted before joining goes out once joined', async () => {
    await cp.down()
    const clock = { t: Date.parse('2026-11-23T14:10:00Z') }
    const c = await startCache({
      originUrl: NO_ORIGIN,
      now: () => clock.t,
      env: {
        CACHE_CONTROL_PLANE_URL: cp.url,
        CACHE_JOIN_TOKEN: cp.joinToken(),
        CACHE_SITE_NAME: 'metrics-late',
        CACHE_UPSTREAMS: `${NS}=${fake.url}`,
      },
    })
    try {
      const z = fake.addBlob('lib/z', randomBytes(700))
      expect((await blob(c.url, 'lib/z', z.digest, { ns: NS })).status).toBe(200)
      await settled(c, 1)
      await c.deps.site!.flush()
      expect(c.deps.index.outboxCount()).toBe(0)
      await cp.up()
      await vi.waitFor(() => expect(c.deps.site!.identity()).toBeDefined(), { timeout: 15_000 })
      await vi.waitFor(() => expect(batchesOf(c)).toHaveLength(1), { timeout: 10_000 })
      expect(batchesOf(c)[0]![1].entries).toEqual([
        {
          repository: 'lib/z',
          hour: H14,
          requests: 1,
          hits: 0,
          misses: 1,
          bytesToClients: 700,
          bytesFromUpstream: 700,
        },
      ])
    } finally {
      await c.close()
      await cp.up()
    }
  })

  it('are made every CACHE_METRICS_FLUSH without being asked', async () => {
    const c = await joinedCache({ env: { CACHE_METRICS_FLUSH: '200ms' } })
    try {
      expect(c.deps.site!.flushIntervalMs).toBe(200)
      const w = fake.addBlob('lib/w', randomBytes(300))
      expect((await blob(c.url, 'lib/w', w.digest, { ns: NS })).status).toBe(200)
      await vi.waitFor(() => expect(batchesOf(c)).toHaveLength(1), { timeout: 10_000 })
      expect(batchesOf(c)[0]![1].entries).toMatchObject([{ repository: 'lib/w', requests: 1 }])
    } finally {
      await c.close()
    }
  })
})
