import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import { beat, startNetwork, type Network } from './fixtures.ts'

describe('heartbeats and health, on an injected clock', () => {
  let clock = Date.now()
  let net: Network
  // the sweep timer is off: reads must evaluate health themselves
  beforeAll(async () => {
    net = await startNetwork({ now: () => clock, healthTimer: false })
  })
  afterAll(() => net.close())

  test('unknown → up → down after 3 missed intervals → up again, each change in the history', async () => {
    const { site, credential } = await net.join({ name: 'hb', url: 'https://hb.example.com' })
    const send = (extra: Record<string, unknown> = {}) =>
      net.api.call('POST', `/sites/${site.id}/heartbeat`, { bearer: credential }, beat(extra))
    const health = async () => (await net.api.call('GET', '/sites/hb/health', net.admin)).body

    expect(await health()).toEqual({ state: 'unknown', since: null, lastHeartbeatAt: null, history: [] })

    const t0 = clock
    const first = await send()
    expect(first.status).toBe(200)
    expect(first.body).toEqual({ state: 'up', heartbeatIntervalMs: 10_000, metricsIntervalMs: 60_000 })
    expect(await health()).toMatchObject({
      state: 'up',
      since: new Date(t0).toISOString(),
      lastHeartbeatAt: new Date(t0).toISOString(),
      history: [{ state: 'up', at: new Date(t0).toISOString(), reason: 'first heartbeat' }],
    })

    // heartbeats keep it up; exactly 30 s of silence is not yet down
    clock += 10_000
    await send({ diskUsedBytes: 200, hitRatio: 0.75 })
    clock += 30_000
    expect((await health()).state).toBe('up')
    const viaSite = (await net.api.call('GET', '/sites/hb', net.admin)).body
    expect(viaSite.stats).toEqual({
      version: '1.0.0',
      diskUsedBytes: 200,
      diskFreeBytes: 900,
      capacityBytes: 1000,
      hitRatio: 0.75,
      dockerMirror: null,
    })

    clock += 1_000
    const down = await health()
    expect(down.state).toBe('down')
    expect(down.since).toBe(new Date(clock).toISOString())
    expect(down.history[0]).toEqual({ state: 'down', at: new Date(clock).toISOString(), reason: 'no heartbeat for 31s' })
    expect((await net.api.call('GET', '/sites', net.admin)).body.sites.find((s: { name: string }) => s.name === 'hb').health.state).toBe('down')

    clock += 5_000
    expect((await send()).body.state).toBe('up')
    const back = await health()
    expect(back.state).toBe('up')
    expect(back.history.map((h: { state: string; reason: string }) => `${h.state}: ${h.reason}`)).toEqual([
      'up: heartbeat resumed',
      'down: no heartbeat for 31s',
      'up: first heartbeat',
    ])
  })

  test('a down site is not assigned; it is again once up', async () => {
    const { site, credential } = await net.join({ name: 'assignable', url: 'https://assignable.example.com', networks: ['10.99.0.0/16'] })
    const send = () => net.api.call('POST', `/sites/${site.id}/heartbeat`, { bearer: credential }, beat())
    const resolve = async () => (await net.api.call('POST', '/assignments/resolve', net.admin, { address: '10.99.1.1' })).body
    expect((await resolve()).rule).toBe('origin')
    await send()
    expect((await resolve()).site?.name).toBe('assignable')
    clock += 31_000
    expect((await resolve()).rule).toBe('origin')
    await send()
    expect((await resolve()).rule).toBe('network')
  })

  test('a heartbeat with bad figures is a 400', async () => {
    const { site, credential } = await net.join({ name: 'badbeat', url: 'https://badbeat.example.com' })
    const res = await net.api.call('POST', `/sites/${site.id}/heartbeat`, { bearer: credential }, beat({ diskUsedBytes: -5 }))
    expect(res.status).toBe(400)
  })

  test('a heartbeat may fill in a url the site lacks, never replace one', async () => {
    const { site, credential } = await net.join({ name: 'urlbeat', url: 'https://urlbeat.example.com' })
    await net.api.call('POST', `/sites/${site.id}/heartbeat`, { bearer: credential }, beat({ url: 'https://elsewhere.example.com' }))
    expect((await net.api.call('GET', '/sites/urlbeat', net.admin)).body.url).toBe('https://urlbeat.example.com')
  })
})

test('the sweep timer marks a silent site down on its own', async () => {
  const net = await startNetwork({ env: { CONTROL_PLANE_HEARTBEAT_INTERVAL: '100ms', CONTROL_PLANE_DOWN_AFTER: '2' } })
  try {
    const { site, credential } = await net.join({ name: 'quiet', url: 'https://quiet.example.com' })
    const res = await net.api.call('POST', `/sites/${site.id}/heartbeat`, { bearer: credential }, beat())
    expect(res.body.heartbeatIntervalMs).toBe(100)
    // read the stored state directly: an API read would evaluate it itself
    const stored = () =>
      (net.cp.deps.db.prepare('SELECT health_state AS s FROM sites WHERE id = ?').get(site.id) as { s: string }).s
    await vi.waitFor(() => expect(stored()).toBe('down'), { timeout: 5000, interval: 50 })
  } finally {
    await net.close()
  }
})
