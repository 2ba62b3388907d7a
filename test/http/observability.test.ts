/**
 * Metrics, health and the request log on the three programs: /metrics in the Prometheus text format (token or
 * loopback only), /healthz, /readyz turning 503 when the upstream stops answering, the origin's DTR /_ping, and one
 * request line per request with the request id and no credentials from the query.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { call, metrics } from '../helpers/cache-http.ts'
import { startCache } from '../helpers/start-cache.ts'
import { startControlPlane } from '../helpers/start-control-plane.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'
import { ADMIN_SCOPE, startNetwork, type Network } from '../control-plane/fixtures.ts'
import { tokenFor } from '../helpers/auth.ts'

type Started = { url: string; close(): Promise<void> }
const json = (res: { body: Buffer }) => JSON.parse(res.body.toString('utf8')) as Record<string, unknown>
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

/** A stand-in upstream that answers every request 200 until closed (a control plane's /healthz, say). */
async function answering(): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => res.end('{"status":"ok"}'))
  server.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

/** /readyz is answered from the last probe: after the clock passes the probe interval, one call starts a new one. */
async function expectNotReadyOnceProbed(url: string, advance: () => void, failed: string): Promise<void> {
  advance()
  await vi.waitFor(
    async () => {
      const res = await call(`${url}/readyz`)
      expect(res.status).toBe(503)
      expect(json(res)).toMatchObject({ status: 'not ready', failed: [failed] })
    },
    { timeout: 10_000, interval: 50 },
  )
}

describe('origin', () => {
  let now = Date.now()
  const logLines: Record<string, unknown>[] = []
  let origin: Started
  let controlPlane: { url: string; server: Server }

  beforeAll(async () => {
    controlPlane = await answering()
    origin = await startOrigin({ env: { ORIGIN_CONTROL_PLANE_URL: controlPlane.url }, now: () => now, logLines })
  })
  afterAll(async () => {
    await origin.close()
    controlPlane.server.close()
  })

  it('is alive at /healthz and ready at /readyz and /_ping while database, disk and control plane answer', async () => {
    expect(json(await call(`${origin.url}/healthz`))).toEqual({ status: 'ok' })
    const ready = await call(`${origin.url}/readyz`)
    expect(ready.status).toBe(200)
    expect(json(ready)).toMatchObject({
      status: 'ready',
      failed: [],
      checks: { database: { ok: true }, disk: { ok: true }, 'control-plane': { ok: true } },
    })
    const ping = await call(`${origin.url}/_ping`)
    expect(ping.status).toBe(200)
    expect(json(ping)).toEqual({ Error: '', Healthy: true })
    expect((await call(`${origin.url}/health`)).status).toBe(200)
  })

  it('counts requests by route and status, tokens issued, failed logins by reason and SQLite statements', async () => {
    const before = await metrics(origin.url)
    await call(`${origin.url}/v2/`)
    await call(`${origin.url}/auth/token?service=x`)
    await call(`${origin.url}/auth/token?service=x`, {
      headers: { authorization: basic(TEST_ADMIN.username, 'wrong-password') },
    })
    const after = await metrics(origin.url)
    const v2 = 'wharf_http_requests_total{method="GET",route="/v2/",status="401"}'
    expect(after[v2]).toBe((before[v2] ?? 0) + 1)
    expect(after['wharf_origin_tokens_issued_total']).toBe((before['wharf_origin_tokens_issued_total'] ?? 0) + 1)
    const failed = 'wharf_origin_failed_logins_total{reason="invalid_credentials"}'
    expect(after[failed]).toBe((before[failed] ?? 0) + 1)
    expect(after['wharf_origin_failed_logins_total{reason="rate_limited"}']).toBe(0)
    expect(after['wharf_origin_uploads_in_flight']).toBe(0)
    expect(Object.keys(after).some((k) => k.startsWith('wharf_db_statement_seconds_count{statement="SELECT'))).toBe(
      true,
    )
    expect(after['process_cpu_user_seconds_total{program="origin"}']).toBeGreaterThan(0)
    // the raw path never becomes a label
    expect(
      Object.keys(after).filter((k) => k.startsWith('wharf_http_requests_total') && k.includes('/auth/token?')),
    ).toEqual([])
  })

  it('asks for ORIGIN_METRICS_TOKEN when one is set', async () => {
    const guarded = await startOrigin({ env: { ORIGIN_METRICS_TOKEN: 'scrape-me' } })
    try {
      const refused = await call(`${guarded.url}/metrics`)
      expect(refused.status).toBe(401)
      expect(refused.body.toString()).toContain('ORIGIN_METRICS_TOKEN')
      const res = await call(`${guarded.url}/metrics`, { token: 'scrape-me' })
      expect(res.status).toBe(200)
      expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
      expect(res.body.toString()).toContain('# TYPE wharf_http_requests_total counter')
    } finally {
      await guarded.close()
    }
  })

  it('logs one line per request with the request id it was sent, the client, bytes out, and no grant from the query', async () => {
    const res = await call(`${origin.url}/v2/alice/app/blobs/sha256:${'0'.repeat(64)}?grant=s3cr3t-grant&x=1`, {
      headers: { 'x-request-id': 'probe-42' },
    })
    expect(res.headers['x-request-id']).toBe('probe-42')
    const line = logLines.find((l) => l.msg === 'request' && l.reqId === 'probe-42')
    expect(line).toMatchObject({
      method: 'GET',
      path: `/v2/alice/app/blobs/sha256:${'0'.repeat(64)}`,
      query: 'grant=[redacted]&x=1',
      status: res.status,
      client: '127.0.0.1',
      bytesIn: 0,
      bytesOut: res.body.byteLength,
    })
    expect(typeof line!.ms).toBe('number')
    expect(JSON.stringify(logLines)).not.toContain('s3cr3t-grant')
    const fresh = await call(`${origin.url}/v2/`)
    expect(fresh.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('counts a pushed and a pulled blob in and out to their last byte, and the upload in flight back to 0', async () => {
    const token = await tokenFor(origin.url, ['repository:admin/bytes:pull,push'], TEST_ADMIN)
    const bytes = randomBytes(300_000)
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`
    const pushed = await call(`${origin.url}/v2/admin/bytes/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      token,
      headers: { 'content-type': 'application/octet-stream', 'x-request-id': 'push-1' },
      body: bytes,
    })
    expect(pushed.status).toBe(201)
    const pulled = await call(`${origin.url}/v2/admin/bytes/blobs/${digest}`, {
      token,
      headers: { 'x-request-id': 'pull-1' },
    })
    expect(pulled.body.equals(bytes)).toBe(true)
    await vi.waitFor(() => expect(logLines.some((l) => l.reqId === 'pull-1' && l.msg === 'request')).toBe(true))
    expect(logLines.find((l) => l.reqId === 'push-1' && l.msg === 'request')).toMatchObject({
      bytesIn: bytes.length,
      status: 201,
    })
    expect(logLines.find((l) => l.reqId === 'pull-1' && l.msg === 'request')).toMatchObject({
      bytesOut: bytes.length,
      status: 200,
    })
    const m = await metrics(origin.url)
    expect(m['wharf_origin_uploads_in_flight']).toBe(0)
    expect(m['wharf_http_request_bytes_total{route="/v2/:name{.+}/blobs/uploads/"}']).toBeGreaterThanOrEqual(
      bytes.length,
    )
  })

  it('is not ready once the control plane stops answering (503 naming it, /_ping unhealthy)', async () => {
    controlPlane.server.closeAllConnections()
    await new Promise((resolve) => controlPlane.server.close(resolve))
    await expectNotReadyOnceProbed(origin.url, () => (now += 10_000), 'control-plane')
    const ping = await call(`${origin.url}/_ping`)
    expect(ping.status).toBe(503)
    expect(json(ping)).toMatchObject({ Healthy: false, Error: expect.stringContaining('control-plane') as unknown })
    expect((await call(`${origin.url}/healthz`)).status).toBe(200)
  })
})

describe('cache node', () => {
  let now = Date.now()
  const logLines: Record<string, unknown>[] = []
  let origin: Started
  let cache: Started

  beforeAll(async () => {
    origin = await startOrigin()
    // a foreign registry that is gone: its port is free again
    const gone = await answering()
    await new Promise((resolve) => gone.server.close(resolve))
    cache = await startCache({
      originUrl: origin.url,
      now: () => now,
      logLines,
      env: { CACHE_UPSTREAMS: `gone.example=${gone.url}` },
    })
  })
  afterAll(async () => {
    await cache.close()
    await origin.close().catch(() => undefined)
  })

  it('serves process and HTTP series from prom-client beside its own, which move with requests', async () => {
    const before = await metrics(cache.url)
    expect(before['wharf_cache_bytes_to_clients_total']).toBeDefined()
    expect(before['wharf_cache_grants_total{result="accepted"}']).toBe(0)
    await call(`${cache.url}/v2/`)
    const after = await metrics(cache.url)
    const v2 = 'wharf_http_requests_total{method="GET",route="/v2/",status="401"}'
    expect(after[v2]).toBe((before[v2] ?? 0) + 1)
    expect(after['process_resident_memory_bytes{program="cache-node"}']).toBeGreaterThan(0)
  })

  it('is ready while index, disk and upstream answer, and not once the upstream is gone', async () => {
    expect(json(await call(`${cache.url}/healthz`))).toEqual({ status: 'ok' })
    const ready = await call(`${cache.url}/readyz`)
    expect(ready.status).toBe(200)
    expect(json(ready)).toMatchObject({
      checks: { database: { ok: true }, disk: { ok: true }, upstream: { ok: true } },
    })
    await origin.close()
    await expectNotReadyOnceProbed(cache.url, () => (now += 10_000), 'upstream')
    expect((await call(`${cache.url}/healthz`)).status).toBe(200)
  })

  it('logs an upstream failure as err with its stack and cause, not only its message', async () => {
    const res = await call(`${cache.url}/v2/lib/gone/manifests/latest?ns=gone.example`)
    expect(res.status).toBeGreaterThanOrEqual(500)
    const line = logLines.find((l) => l.msg === 'upstream error')
    expect(line).toBeDefined()
    const err = line!.err as { message: string; stack: string; type: string; code: string }
    expect(err).toMatchObject({ type: 'UpstreamError', code: 'UPSTREAM_UNAVAILABLE' })
    // pino's serializer: the stack, and the cause's after it
    expect(err.stack).toMatch(/^UpstreamError: upstream .* could not be reached/)
    expect(err.stack).toContain('caused by: Error: connect ECONNREFUSED')
  })
})

describe('control plane', () => {
  let now = Date.now()
  let origin: Started
  let cp: Started

  beforeAll(async () => {
    origin = await startOrigin()
    cp = await startControlPlane({ originUrl: origin.url, now: () => now, healthTimer: false })
  })
  afterAll(async () => {
    await cp.close()
    await origin.close().catch(() => undefined)
  })

  it('counts sites by state and placement answers by rule', async () => {
    const admin = `Bearer ${await tokenFor(origin.url, [ADMIN_SCOPE], TEST_ADMIN)}`
    const before = await metrics(cp.url)
    expect(before['wharf_control_plane_sites{state="unknown"}']).toBe(0)
    expect(before['wharf_control_plane_report_batches_total{result="counted"}']).toBe(0)
    const created = await call(`${cp.url}/api/v0/sites`, {
      method: 'POST',
      headers: { authorization: admin, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'eu', url: 'https://eu.example.com' }),
    })
    expect(created.status).toBe(201)
    const resolved = await call(`${cp.url}/api/v0/assignments/resolve`, {
      method: 'POST',
      headers: { authorization: admin, 'content-type': 'application/json' },
      body: JSON.stringify({ address: '192.0.2.1' }),
    })
    expect(resolved.status).toBe(200)
    const rule = json(resolved).rule as string
    const after = await metrics(cp.url)
    expect(after['wharf_control_plane_sites{state="unknown"}']).toBe(1)
    expect(after[`wharf_control_plane_assignments_total{rule="${rule}"}`]).toBe(1)
    expect(after['wharf_http_requests_total{method="POST",route="/api/v0/sites",status="201"}']).toBe(1)
  })

  it('keeps /health, is ready while the origin answers, and not once it is gone', async () => {
    expect((await call(`${cp.url}/health`)).status).toBe(200)
    expect(json(await call(`${cp.url}/healthz`))).toEqual({ status: 'ok' })
    const ready = await call(`${cp.url}/readyz`)
    expect(ready.status).toBe(200)
    expect(json(ready)).toMatchObject({ checks: { database: { ok: true }, disk: { ok: true }, origin: { ok: true } } })
    await origin.close()
    await expectNotReadyOnceProbed(cp.url, () => (now += 10_000), 'origin')
  })
})

describe('control plane report ingestion', () => {
  let net: Network
  beforeAll(async () => {
    net = await startNetwork({ healthTimer: false })
  })
  afterAll(() => net.close())

  it('counts batches (counted, duplicate) and the entries counted', async () => {
    const site = await net.join({ name: 'eu', url: 'https://eu.example.com' })
    const entry = {
      repository: 'library/alpine',
      hour: '2026-03-01T10:00:00.000Z',
      requests: 3,
      hits: 2,
      misses: 1,
      bytesToClients: 100,
      bytesFromUpstream: 10,
    }
    const send = () =>
      net.api.call(
        'POST',
        `/sites/${site.site.id}/metrics`,
        { bearer: site.credential },
        { batch: '1', entries: [entry, { ...entry, repository: 'team/app' }] },
      )
    expect((await send()).status).toBe(200)
    expect((await send()).status).toBe(200)
    const m = await metrics(net.cp.url)
    expect(m['wharf_control_plane_report_batches_total{result="counted"}']).toBe(1)
    expect(m['wharf_control_plane_report_batches_total{result="duplicate"}']).toBe(1)
    expect(m['wharf_control_plane_report_entries_total']).toBe(2)
  })
})
