import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startNetwork, type Network } from './fixtures.ts'

let net: Network
let eu: { id: string; credential: string }
let us: { id: string; credential: string }

const H = (h: string) => `2026-03-01T${h}:00:00.000Z`
const entry = (repository: string, hour: string, n: Partial<Record<string, number>> = {}) => ({
  repository,
  hour,
  requests: n.requests ?? 10,
  hits: n.hits ?? 8,
  misses: n.misses ?? 2,
  bytesToClients: n.bytesToClients ?? 1000,
  bytesFromUpstream: n.bytesFromUpstream ?? 200,
})
const send = (site: { id: string; credential: string }, batch: string, entries: unknown[]) =>
  net.api.call('POST', `/sites/${site.id}/metrics`, { bearer: site.credential }, { batch, entries })
const report = (q: string, headers?: Record<string, string>) =>
  net.api.call('GET', `/reports/bandwidth?${q}`, net.admin, undefined, headers)
const RANGE = `from=${encodeURIComponent('2026-03-01T00:00:00Z')}&to=${encodeURIComponent('2026-03-03T00:00:00Z')}`

beforeAll(async () => {
  net = await startNetwork()
  const a = await net.join({ name: 'eu', url: 'https://eu.example.com' })
  const b = await net.join({ name: 'us', url: 'https://us.example.com' })
  eu = { id: a.site.id, credential: a.credential }
  us = { id: b.site.id, credential: b.credential }
})
afterAll(() => net.close())

describe('metrics', () => {
  test('the same batch twice counts once', async () => {
    const first = await send(eu, '1', [entry('library/alpine', H('10')), entry('team/app', H('10'), { requests: 4, hits: 0, misses: 4, bytesToClients: 400, bytesFromUpstream: 400 })])
    expect(first.body).toEqual({ batch: '1', duplicate: false })
    const again = await send(eu, '1', [entry('library/alpine', H('10'))])
    expect(again.status).toBe(200)
    expect(again.body).toEqual({ batch: '1', duplicate: true })
    // counters add up across batches into the same (site, repository, hour)
    expect((await send(eu, '2', [entry('library/alpine', H('10'))])).body.duplicate).toBe(false)
    await send(eu, '3', [entry('library/alpine', H('11'), { requests: 1, hits: 1, misses: 0, bytesToClients: 50, bytesFromUpstream: 0 })])
    await send(us, '1', [entry('library/alpine', H('10'), { requests: 2, hits: 0, misses: 0, bytesToClients: 0, bytesFromUpstream: 0 })])
    // the next day
    await send(us, '2', [entry('library/alpine', '2026-03-02T05:00:00.000Z', { bytesToClients: 5000, bytesFromUpstream: 1000 })])

    const r = (await report(`${RANGE}&granularity=hour&site=eu&repository=library/alpine`)).body
    expect(r.rows).toEqual([
      { period: H('10'), site: 'eu', repository: 'library/alpine', requests: 20, hits: 16, misses: 4, hitRatio: 0.8, bytesServed: 2000, bytesFromUpstream: 400, originEgressSaved: 1600 },
      { period: H('11'), site: 'eu', repository: 'library/alpine', requests: 1, hits: 1, misses: 0, hitRatio: 1, bytesServed: 50, bytesFromUpstream: 0, originEgressSaved: 50 },
    ])
  })

  test('bad batches are 400s and count nothing', async () => {
    for (const entries of [
      [entry('x', '2026-03-01T10:30:00.000Z')],
      [entry('x', 'yesterday')],
      [{ ...entry('x', H('10')), hits: -1 }],
      [{ ...entry('x', H('10')), repository: '' }],
      'nope',
    ]) {
      const res = await send(eu, `bad-${JSON.stringify(entries).length}`, entries as unknown[])
      expect(res.status).toBe(400)
    }
    expect((await net.api.call('POST', `/sites/${eu.id}/metrics`, { bearer: eu.credential }, { entries: [] })).status).toBe(400)
    const r = (await report(`${RANGE}&repository=x`)).body
    expect(r.rows).toEqual([])
  })
})

describe('bandwidth reports', () => {
  test('day granularity, totals per site and top repositories', async () => {
    const r = (await report(`${RANGE}&granularity=day`)).body
    expect(r).toMatchObject({ from: '2026-03-01T00:00:00.000Z', to: '2026-03-03T00:00:00.000Z', granularity: 'day' })
    const day1 = r.rows.filter((x: { period: string }) => x.period === '2026-03-01T00:00:00.000Z')
    expect(day1).toContainEqual({
      period: '2026-03-01T00:00:00.000Z', site: 'eu', repository: 'library/alpine',
      requests: 21, hits: 17, misses: 4, hitRatio: 17 / 21, bytesServed: 2050, bytesFromUpstream: 400, originEgressSaved: 1650,
    })
    // no hits and no misses: the ratio is null, not 0
    expect(day1).toContainEqual(expect.objectContaining({ site: 'us', repository: 'library/alpine', requests: 2, hitRatio: null }))
    expect(r.sites).toEqual([
      { site: 'eu', requests: 25, hits: 17, misses: 8, hitRatio: 17 / 25, bytesServed: 2450, bytesFromUpstream: 800, originEgressSaved: 1650 },
      { site: 'us', requests: 12, hits: 8, misses: 2, hitRatio: 0.8, bytesServed: 5000, bytesFromUpstream: 1000, originEgressSaved: 4000 },
    ])
    expect(r.topRepositories.map((x: { repository: string }) => x.repository)).toEqual(['library/alpine', 'team/app'])
    expect(r.topRepositories[0]).toMatchObject({ bytesServed: 7050, originEgressSaved: 5650 })
    expect((await report(`${RANGE}&top=1`)).body.topRepositories).toHaveLength(1)
  })

  test('an hour that fetched more than it sent saved nothing: the bytes count as from upstream, not as a negative saving', async () => {
    const day = (h: string) => `2026-03-05T${h}:00:00.000Z`
    // hour 10: HEADs made the cache fetch 300 bytes of manifests it never sent; hour 11: the GETs were hits
    await send(us, 'head-1', [entry('team/headed', day('10'), { requests: 3, hits: 0, misses: 3, bytesToClients: 0, bytesFromUpstream: 300 })])
    await send(us, 'head-2', [entry('team/headed', day('11'), { requests: 2, hits: 2, misses: 0, bytesToClients: 1000, bytesFromUpstream: 0 })])
    const q = `from=${encodeURIComponent('2026-03-05T00:00:00Z')}&to=${encodeURIComponent('2026-03-06T00:00:00Z')}&repository=team/headed`
    const hours = (await report(`${q}&granularity=hour`)).body
    expect(hours.rows.map((r: { bytesFromUpstream: number; originEgressSaved: number }) => [r.bytesFromUpstream, r.originEgressSaved])).toEqual([
      [300, 0],
      [0, 1000],
    ])
    // a day, a site and a repository total are the sums of their hours
    const days = (await report(`${q}&granularity=day`)).body
    expect(days.rows).toEqual([expect.objectContaining({ bytesServed: 1000, bytesFromUpstream: 300, originEgressSaved: 1000 })])
    expect(days.sites).toEqual([expect.objectContaining({ site: 'us', bytesFromUpstream: 300, originEgressSaved: 1000 })])
  })

  test('from is inclusive and rounded down, to exclusive and rounded up (the hour under way counts)', async () => {
    const r = (await report(`from=${encodeURIComponent('2026-03-01T10:59:59Z')}&to=${encodeURIComponent('2026-03-01T11:00:00Z')}&granularity=hour`)).body
    expect(r.from).toBe(H('10'))
    expect(r.to).toBe(H('11'))
    const partial = (await report(`from=${encodeURIComponent('2026-03-01T10:00:00Z')}&to=${encodeURIComponent('2026-03-01T10:20:00Z')}&granularity=hour`)).body
    expect(partial.to).toBe(H('11'))
    expect(new Set(partial.rows.map((x: { period: string }) => x.period))).toEqual(new Set([H('10')]))
    expect(new Set(r.rows.map((x: { period: string }) => x.period))).toEqual(new Set([H('10')]))
  })

  test('CSV with format=csv or Accept: text/csv', async () => {
    const res = await report(`${RANGE}&granularity=hour&site=eu&format=csv`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/)
    const lines = (res.body as string).trimEnd().split('\r\n')
    expect(lines[0]).toBe('period,site,repository,requests,hits,misses,hitRatio,bytesServed,bytesFromUpstream,originEgressSaved')
    expect(lines).toContain(`${H('10')},eu,library/alpine,20,16,4,0.8,2000,400,1600`)
    expect(lines).toContain(`${H('10')},eu,team/app,4,0,4,0,400,400,0`)
    expect(lines).toHaveLength(4)
    const viaAccept = await report(`${RANGE}&site=eu`, { accept: 'text/csv' })
    expect(viaAccept.headers.get('content-type')).toMatch(/^text\/csv/)
  })

  test.each([
    ['from=yesterday', /from must be an ISO 8601 time/],
    ['to=2026-13-45', /to must be an ISO 8601 time/],
    [`from=${encodeURIComponent('2026-03-02T00:00:00Z')}&to=${encodeURIComponent('2026-03-01T00:00:00Z')}`, /must be before/],
    [`from=${encodeURIComponent('2026-03-01T10:10:00Z')}&to=${encodeURIComponent('2026-03-01T10:00:00Z')}`, /must be before/],
    ['granularity=week', /granularity must be one of hour, day/],
    ['format=xml', /format must be one of json, csv/],
    ['top=many', /top must be/],
    ['site=ghost', /site "ghost"/],
  ])('%s is a clear 400', async (q, message) => {
    const res = await report(q)
    expect(res.status).toBe(400)
    expect(res.body.error.message).toMatch(message)
  })

  test('defaults: the 7 days before now', async () => {
    const r = (await report('')).body
    expect(Date.parse(r.to) - Date.parse(r.from)).toBe(7 * 86400_000)
    expect(r.granularity).toBe('day')
  })
})
