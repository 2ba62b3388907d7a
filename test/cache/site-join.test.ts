/**
 * A cache node joining its control plane (docs/network-protocol.md): the join token is used once and the identity
 * kept in site.json (0600), which later starts reuse without joining again; a control plane that is down at start
 * does not stop serving and is joined once it is up; a refused token is a clear error; heartbeats carry the site's
 * state at the interval the control plane asks for.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createDeps } from '../../cache-node/app.ts'
import { loadConfig } from '../../cache-node/config.ts'
import { ConfigError } from '../../lib/config.ts'
import { blob, metrics } from '../helpers/cache-http.ts'
import { startFakeControlPlane, type FakeControlPlane } from '../helpers/fake-control-plane.ts'
import { startFakeRegistry, type FakeRegistry } from '../helpers/fake-registry.ts'
import { startCache } from '../helpers/start-cache.ts'

const NO_ORIGIN = 'http://127.0.0.1:1'
const NS = 'fake.test'
let cp: FakeControlPlane
let fake: FakeRegistry
const dirs: string[] = []

beforeAll(async () => {
  cp = await startFakeControlPlane()
  fake = await startFakeRegistry()
})

afterAll(async () => {
  await cp?.close()
  await fake?.close()
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

async function dataDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'wharf-cache-site-'))
  dirs.push(d)
  return d
}

const siteEnv = (extra: Record<string, string> = {}) => ({
  CACHE_CONTROL_PLANE_URL: cp.url,
  CACHE_UPSTREAMS: `${NS}=${fake.url}`,
  CACHE_MAX_BYTES: '1GiB',
  ...extra,
})

describe('joining', () => {
  it('joins with the token and the site fields, keeps site.json (0600), and a restart reuses it', async () => {
    const dir = await dataDir()
    const token = cp.joinToken()
    const first = await startCache({
      originUrl: NO_ORIGIN,
      dataDir: dir,
      env: siteEnv({
        CACHE_JOIN_TOKEN: token,
        CACHE_SITE_NAME: 'edge-1',
        CACHE_SITE_REGION: 'eu-west',
        CACHE_SITE_LATITUDE: '52.37',
        CACHE_SITE_LONGITUDE: '4.89',
        CACHE_SITE_NETWORKS: '10.20.0.0/16, 2001:db8::/32',
        CACHE_SITE_PARENT: 'core',
      }),
    })
    try {
      await vi.waitFor(() => expect(first.deps.site!.identity()).toBeDefined(), { timeout: 10_000 })
      expect(cp.joins).toHaveLength(1)
      expect(cp.joins[0]!.authorization).toBe(`Bearer ${token}`)
      expect(cp.joins[0]!.body).toEqual({
        name: 'edge-1',
        url: first.url,
        region: 'eu-west',
        latitude: 52.37,
        longitude: 4.89,
        networks: ['10.20.0.0/16', '2001:db8::/32'],
        parent: 'core',
        capacityBytes: 2 ** 30,
        version: '0.1.0',
      })
      const site = [...cp.sites.values()].find((s) => s.name === 'edge-1')!
      const file = join(dir, 'site.json')
      expect((await stat(file)).mode & 0o777).toBe(0o600)
      expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({
        siteId: site.id,
        siteName: 'edge-1',
        credential: site.credential,
        controlPlaneUrl: `${cp.url}/`,
      })
      expect(first.deps.site!.identity()!.siteId).toBe(site.id)
      expect((await metrics(first.url))['wharf_cache_site_joined']).toBe(1)
    } finally {
      await first.close()
    }

    // no token now: the stored identity is enough, and nothing joins again
    const beats = cp.heartbeats.length
    const second = await startCache({ originUrl: NO_ORIGIN, dataDir: dir, env: siteEnv() })
    try {
      expect(second.deps.site!.identity()).toMatchObject({ siteName: 'edge-1' })
      await vi.waitFor(() => expect(cp.heartbeats.length).toBeGreaterThan(beats), { timeout: 10_000 })
      expect(cp.heartbeats.at(-1)!.siteId).toBe(second.deps.site!.identity()!.siteId)
      expect(cp.joins).toHaveLength(1)
    } finally {
      await second.close()
    }
  })

  it('refuses to start without a stored identity or a join token, saying what to do', async () => {
    const dir = await dataDir()
    const config = loadConfig({
      CACHE_ORIGIN_URL: NO_ORIGIN,
      CACHE_DATA_DIR: dir,
      CACHE_CONTROL_PLANE_URL: cp.url,
    })
    const err = await createDeps(config, pino({ level: 'silent' })).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as ConfigError).problems.join('\n')).toMatch(
      /CACHE_CONTROL_PLANE_URL is set but this node has not joined it yet \(no .*site\.json\): set CACHE_JOIN_TOKEN/,
    )
  })

  it('as a program, exits with status 2 and the same message', async () => {
    const dir = await dataDir()
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'cache-node/main.ts'], {
      env: {
        PATH: process.env.PATH,
        CACHE_LISTEN: '127.0.0.1:0',
        CACHE_ORIGIN_URL: NO_ORIGIN,
        CACHE_DATA_DIR: dir,
        CACHE_CONTROL_PLANE_URL: cp.url,
        CACHE_LOG_LEVEL: 'silent',
      },
      encoding: 'utf8',
      timeout: 60_000,
    })
    expect(run.status, run.stderr).toBe(2)
    expect(run.stderr).toContain('cache-node: invalid configuration')
    expect(run.stderr).toContain('set CACHE_JOIN_TOKEN to a join token')
  })

  it('serves as a plain cache while the control plane is down, and joins once it is up', async () => {
    const lines: Record<string, unknown>[] = []
    await cp.down()
    const c = await startCache({
      originUrl: NO_ORIGIN,
      env: siteEnv({ CACHE_JOIN_TOKEN: cp.joinToken(), CACHE_SITE_NAME: 'late-1' }),
      logLines: lines,
    })
    try {
      await vi.waitFor(
        () => expect(lines.some((l) => l.msg?.toString().startsWith('cannot join the control plane yet'))).toBe(true),
        { timeout: 10_000 },
      )
      expect(lines.find((l) => l.msg?.toString().startsWith('cannot join'))!.level).toBe(40)
      const b = fake.addBlob('lib/late', randomBytes(1000))
      expect((await blob(c.url, 'lib/late', b.digest, { ns: NS })).status).toBe(200)
      expect(c.deps.site!.identity()).toBeUndefined()
      expect((await metrics(c.url))['wharf_cache_site_joined']).toBe(0)

      await cp.up()
      await vi.waitFor(() => expect(c.deps.site!.identity()).toMatchObject({ siteName: 'late-1' }), {
        timeout: 15_000,
      })
      expect(lines.some((l) => l.msg === 'joined the control plane')).toBe(true)
    } finally {
      await c.close()
      await cp.up().catch(() => undefined)
    }
  })

  it('logs a refused join token as an error naming the cause, and keeps serving', async () => {
    const lines: Record<string, unknown>[] = []
    const token = cp.joinToken()
    // used up by someone else
    const burn = await fetch(`${cp.url}/api/v0/join`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'thief', url: 'http://x.example', version: '0' }),
    })
    expect(burn.status).toBe(200)
    const c = await startCache({
      originUrl: NO_ORIGIN,
      env: siteEnv({ CACHE_JOIN_TOKEN: token, CACHE_SITE_NAME: 'refused-1' }),
      logLines: lines,
    })
    try {
      const siteError = () => lines.find((l) => l.level === 50 && l.component === 'site')
      await vi.waitFor(() => expect(siteError()).toBeDefined(), { timeout: 10_000 })
      const line = siteError()!
      expect(line.msg).toMatch(/refused CACHE_JOIN_TOKEN: it was already used, expired or revoked/)
      expect(JSON.stringify(line)).not.toContain(token)
      const b = fake.addBlob('lib/refused', randomBytes(100))
      expect((await blob(c.url, 'lib/refused', b.digest, { ns: NS })).status).toBe(200)
      expect(c.deps.site!.identity()).toBeUndefined()
    } finally {
      await c.close()
    }
  })
})

describe('heartbeats', () => {
  it('carry version, disk, capacity, hit ratio, docker mirror and url at the interval the control plane asks for', async () => {
    cp.heartbeatIntervalMs = 150
    const c = await startCache({
      originUrl: NO_ORIGIN,
      env: siteEnv({ CACHE_JOIN_TOKEN: cp.joinToken(), CACHE_SITE_NAME: 'beat-1', CACHE_DOCKER_MIRROR: NS }),
    })
    try {
      await vi.waitFor(() => expect(c.deps.site!.identity()).toBeDefined(), { timeout: 10_000 })
      const siteId = c.deps.site!.identity()!.siteId
      const mine = () => cp.heartbeats.filter((h) => h.siteId === siteId)
      await vi.waitFor(() => expect(mine().length).toBeGreaterThanOrEqual(1), { timeout: 10_000 })
      const first = mine()[0]!.body
      expect(first).toEqual({
        version: '0.1.0',
        diskUsedBytes: 0,
        diskFreeBytes: expect.any(Number) as number,
        capacityBytes: 2 ** 30,
        hitRatio: null,
        dockerMirror: NS,
        url: c.url,
      })
      expect(first.diskFreeBytes as number).toBeGreaterThan(0)
      expect(c.deps.site!.heartbeatIntervalMs).toBe(150)

      // a miss and a hit: the ratio is 0.5 and the disk holds the blob
      const b = fake.addBlob('lib/beat', randomBytes(4096))
      expect((await blob(c.url, 'lib/beat', b.digest, { ns: NS })).status).toBe(200)
      expect((await blob(c.url, 'lib/beat', b.digest, { ns: NS })).status).toBe(200)
      await vi.waitFor(() => expect(mine().at(-1)!.body).toMatchObject({ hitRatio: 0.5, diskUsedBytes: 4096 }), {
        timeout: 10_000,
      })

      // failures are counted and survived
      const before = mine().length
      cp.fail('heartbeat', '503', 2)
      await vi.waitFor(() => expect(mine().length).toBeGreaterThan(before), { timeout: 10_000 })
      const m = await metrics(c.url)
      expect(m['wharf_cache_heartbeats_total{result="failed"}']).toBe(2)
      expect(m['wharf_cache_heartbeats_total{result="ok"}']).toBeGreaterThanOrEqual(2)
      expect(m['wharf_cache_last_heartbeat_timestamp_seconds']).toBeGreaterThan(0)
    } finally {
      cp.heartbeatIntervalMs = 60_000
      await c.close()
    }
  })
})
