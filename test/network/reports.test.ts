/**
 * Bandwidth reports from a known sequence of pulls through two sites: the report's bytes, requests and hit ratios
 * equal what was pulled, also when the control plane acted on a delivery whose answer was lost (the node sends
 * the batch again; it must not count twice) and when the control plane was down and restarted meanwhile (the
 * nodes keep their batches and send them later).
 */
import { createHash, randomBytes } from 'node:crypto'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { apiClient, createUser } from '../helpers/api.ts'
import { tokenFor, type Credentials } from '../helpers/auth.ts'
import { startLossyProxy, type LossyProxy } from '../helpers/lossy-proxy.ts'
import { pullBlob, startNetwork, uploadBlob, type Network } from '../helpers/network.ts'
import { TEST_ADMIN } from '../helpers/start-origin.ts'

interface Row {
  period: string
  site: string
  repository: string
  requests: number
  hits: number
  misses: number
  hitRatio: number | null
  bytesServed: number
  bytesFromUpstream: number
  originEgressSaved: number
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`

describe('bandwidth reports', () => {
  let net: Network
  let proxy: LossyProxy
  let dev: Credentials
  const X = randomBytes(100_000)
  const Y = randomBytes(30_000)
  const Z = randomBytes(5_000)
  const SITE_A = '10.10.0.5'
  const SITE_B = '10.20.0.5'

  beforeAll(async () => {
    net = await startNetwork({
      sites: [
        { name: 'site-a', networks: ['10.10.0.0/16'] },
        { name: 'site-b', networks: ['10.20.0.0/16'] },
      ],
      cacheControlPlaneUrl: async (cp) => {
        proxy = await startLossyProxy(cp)
        return proxy.url
      },
    })
    dev = await createUser(apiClient(net.origin.url), TEST_ADMIN, 'dev')
    for (const [repo, blob] of [['dev/svc', X], ['dev/svc', Y], ['dev/other', Z], ['dev/other', X]] as const) {
      await uploadBlob(net.origin.url, repo, blob, dev)
    }
  })

  afterAll(async () => {
    await net?.close()
    await proxy?.close()
  })

  /** Pulls a blob through the origin from `address`; it must be redirected to `site` and arrive whole. */
  async function pull(repo: string, blob: Buffer, address: string, site: string) {
    expect((await pullBlob(net, { repo, digest: sha256(blob), who: dev, address })).servedBy).toBe(site)
  }

  async function report(query = ''): Promise<{ rows: Row[]; sites: Omit<Row, 'period' | 'repository'>[]; topRepositories: Row[] }> {
    const from = new Date(Date.now() - 2 * 3600_000).toISOString()
    const to = new Date(Date.now() + 2 * 3600_000).toISOString()
    const res = await net.api('GET', `/reports/bandwidth?from=${from}&to=${to}${query}`)
    expect(res.status).toBe(200)
    return res.body as never
  }

  /** Rows summed over periods, per site and repository. */
  function totals(rows: Row[]) {
    const out: Record<string, { requests: number; hits: number; misses: number; bytesServed: number; bytesFromUpstream: number }> = {}
    for (const r of rows) {
      const t = (out[`${r.site} ${r.repository}`] ??= { requests: 0, hits: 0, misses: 0, bytesServed: 0, bytesFromUpstream: 0 })
      t.requests += r.requests
      t.hits += r.hits
      t.misses += r.misses
      t.bytesServed += r.bytesServed
      t.bytesFromUpstream += r.bytesFromUpstream
    }
    return out
  }

  it('counts exactly what was pulled, though the answer to a delivery was lost and the node sent it again', async () => {
    // the control plane will act on the first two deliveries that carry counters, and their answers will be lost
    proxy.loseAnswers(/\/metrics$/, 2, (body) => (JSON.parse(body) as { entries: unknown[] }).entries.length > 0)
    await pull('dev/svc', X, SITE_A, 'site-a') // miss
    await pull('dev/svc', X, SITE_A, 'site-a') // hit
    await pull('dev/svc', Y, SITE_A, 'site-a') // miss
    await pull('dev/svc', X, SITE_B, 'site-b') // miss
    await pull('dev/other', Z, SITE_B, 'site-b') // miss

    const expected = {
      'site-a dev/svc': { requests: 3, hits: 1, misses: 2, bytesServed: 230_000, bytesFromUpstream: 130_000 },
      'site-b dev/svc': { requests: 1, hits: 0, misses: 1, bytesServed: 100_000, bytesFromUpstream: 100_000 },
      'site-b dev/other': { requests: 1, hits: 0, misses: 1, bytesServed: 5_000, bytesFromUpstream: 5_000 },
    }
    await vi.waitFor(async () => expect(totals((await report()).rows)).toEqual(expected), { timeout: 30_000, interval: 200 })

    // both losses happened, and each lost batch is delivered again under the same id
    const metrics = () => proxy.requests.filter((r) => r.path.endsWith('/metrics'))
    const batchOf = (r: { body: string }) => (JSON.parse(r.body) as { batch: string }).batch
    const lost = metrics().filter((r) => r.lost)
    expect(lost).toHaveLength(2)
    await vi.waitFor(
      () => {
        for (const l of lost) expect(metrics().some((r) => !r.lost && r.status === 200 && batchOf(r) === batchOf(l))).toBe(true)
      },
      { timeout: 30_000, interval: 200 },
    )
    // and the report still counts each pull once
    expect(totals((await report()).rows)).toEqual(expected)

    const r = await report()
    const siteA = r.sites.find((s) => s.site === 'site-a')!
    expect(siteA).toMatchObject({ requests: 3, hits: 1, misses: 2, bytesServed: 230_000, bytesFromUpstream: 130_000, originEgressSaved: 100_000 })
    expect(siteA.hitRatio).toBeCloseTo(1 / 3)
    expect(r.topRepositories[0]).toMatchObject({ repository: 'dev/svc', bytesServed: 330_000 })
    const row = r.rows.find((x) => x.site === 'site-b' && x.repository === 'dev/other')!
    expect(row.hitRatio).toBe(0)
    expect(row.originEgressSaved).toBe(0)
  })

  it('gets the counts made while the control plane was down once it is back', async () => {
    await net.controlPlane.kill('SIGKILL')
    // with the control plane gone the origin redirects nobody: pull through site-a directly, as a mirror client does
    const token = await tokenFor(net.origin.url, ['repository:dev/other:pull'], dev)
    for (let i = 0; i < 2; i++) {
      const res = await request(`${net.site('site-a').url}/v2/dev/other/blobs/${sha256(Z)}`, {
        headers: { authorization: `Bearer ${token}` },
      })
      expect(res.statusCode).toBe(200)
      expect(sha256(Buffer.from(await res.body.arrayBuffer()))).toBe(sha256(Z))
    }
    // the node tries to deliver while the control plane is down
    const attempts = proxy.requests.length
    await vi.waitFor(() => expect(proxy.requests.filter((r) => r.path.endsWith('/metrics')).length).toBeGreaterThan(0), {
      timeout: 10_000,
    })
    await vi.waitFor(() => expect(proxy.requests.slice(attempts).some((r) => r.path.endsWith('/metrics') && r.status === undefined)).toBe(true), {
      timeout: 10_000,
    })
    await net.restartControlPlane()
    await vi.waitFor(
      async () =>
        expect(totals((await report()).rows)['site-a dev/other']).toEqual({
          requests: 2,
          hits: 1,
          misses: 1,
          bytesServed: 10_000,
          bytesFromUpstream: 5_000,
        }),
      { timeout: 30_000, interval: 200 },
    )
    // and what was counted before the restart is still there, once
    const t = totals((await report()).rows)
    expect(t['site-a dev/svc']).toEqual({ requests: 3, hits: 1, misses: 2, bytesServed: 230_000, bytesFromUpstream: 130_000 })
  })

  it('answers by day and as CSV with the same figures', async () => {
    const daily = await report('&granularity=day&site=site-a')
    expect(new Set(daily.rows.map((r) => r.site))).toEqual(new Set(['site-a']))
    for (const r of daily.rows) expect(r.period).toMatch(/T00:00:00(\.000)?Z$/)
    expect(daily.rows.reduce((n, r) => n + r.bytesServed, 0)).toBe(240_000)

    const from = new Date(Date.now() - 2 * 3600_000).toISOString()
    const to = new Date(Date.now() + 2 * 3600_000).toISOString()
    const csv = await net.api('GET', `/reports/bandwidth?from=${from}&to=${to}&format=csv`)
    expect(csv.status).toBe(200)
    const [header, ...lines] = csv.text.trim().split('\n')
    const cols = header!.split(',')
    const served = cols.indexOf('bytesServed')
    expect(served).toBeGreaterThanOrEqual(0)
    expect(lines.reduce((n, l) => n + Number(l.split(',')[served]), 0)).toBe(345_000)
  })
})
