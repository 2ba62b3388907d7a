import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { apiClient } from '../helpers/api.ts'
import { tokenFor } from '../helpers/auth.ts'
import { spawnControlPlane } from '../helpers/start-control-plane.ts'
import { startOrigin, TEST_ADMIN, type RunningOrigin } from '../helpers/start-origin.ts'
import { ADMIN_SCOPE, beat } from './fixtures.ts'

let origin: RunningOrigin
let dataDir: string
beforeAll(async () => {
  origin = await startOrigin()
  dataDir = await mkdtemp(join(tmpdir(), 'wharf-cp-restart-'))
})
afterAll(async () => {
  await origin.close()
  await rm(dataDir, { recursive: true, force: true })
})

test('sites, credentials, health and usage survive a killed control plane', async () => {
  const admin = { bearer: await tokenFor(origin.url, [ADMIN_SCOPE], TEST_ADMIN) }
  const first = await spawnControlPlane({ originUrl: origin.url, dataDir })
  let api = apiClient(first.url)
  const jt = await api.call('POST', '/join-tokens', admin, {})
  const joined = (await api.call('POST', '/join', { bearer: jt.body.token }, { name: 'durable', url: 'https://durable.example.com', version: '1' })).body
  const cred = { bearer: joined.credential as string }
  expect((await api.call('POST', `/sites/${joined.site.id}/heartbeat`, cred, beat())).body.state).toBe('up')
  const entries = [{ repository: 'r', hour: '2026-01-01T00:00:00.000Z', requests: 1, hits: 1, misses: 0, bytesToClients: 10, bytesFromUpstream: 0 }]
  expect((await api.call('POST', `/sites/${joined.site.id}/metrics`, cred, { batch: '7', entries })).body.duplicate).toBe(false)
  await first.kill('SIGKILL')

  const second = await spawnControlPlane({ originUrl: origin.url, dataDir })
  try {
    api = apiClient(second.url)
    const site = (await api.call('GET', '/sites/durable', admin)).body
    expect(site).toMatchObject({ id: joined.site.id, health: { state: 'up' } })
    expect((await api.call('GET', '/sites/durable/health', admin)).body.history).toHaveLength(1)
    // the credential still works, and the batch is still known
    expect((await api.call('POST', `/sites/${joined.site.id}/metrics`, cred, { batch: '7', entries })).body.duplicate).toBe(true)
    expect((await api.call('POST', `/sites/${joined.site.id}/heartbeat`, cred, beat())).status).toBe(200)
  } finally {
    await second.close()
  }
})

test('a bad configuration names every problem and exits 2', () => {
  const res = spawnSync(process.execPath, ['--import', 'tsx', 'control-plane/main.ts'], {
    cwd: join(import.meta.dirname, '../..'),
    env: { ...process.env, CONTROL_PLANE_ORIGIN_URL: '', CONTROL_PLANE_DOWN_AFTER: '0', CONTROL_PLANE_LISTEN: 'x' },
    encoding: 'utf8',
  })
  expect(res.status).toBe(2)
  expect(res.stderr).toContain('CONTROL_PLANE_ORIGIN_URL is required')
  expect(res.stderr).toContain('CONTROL_PLANE_DOWN_AFTER')
  expect(res.stderr).toContain('CONTROL_PLANE_LISTEN')
})
