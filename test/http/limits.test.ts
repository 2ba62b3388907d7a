/**
 * Each program bounds what one client can hold: a request body that stops arriving is dropped after
 * `<PREFIX>_BODY_TIMEOUT` (1 s here) instead of holding its connection for the 10-minute socket timeout, and a URL
 * or headers past 16 KiB get a 431 with a body instead of a bare answer and a reset. On the origin the stalled
 * body is a real upload PATCH: the session stays at its last acknowledged offset, without the dropped bytes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tokenFor } from '../helpers/auth.ts'
import { bodyOf, hugeHeaders, longUrl, stalledBody, statusOf } from '../helpers/raw-http.ts'
import { closeHttp, http, uploadUrl } from '../helpers/registry-http.ts'
import { startCache } from '../helpers/start-cache.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'
import { startNetwork } from '../control-plane/fixtures.ts'

/** Far past the 1 s limit, far below the 10-minute socket timeout that held such connections before. */
const WAIT_MS = 15_000

let origin: Awaited<ReturnType<typeof startOrigin>>
let cache: Awaited<ReturnType<typeof startCache>>
let net: Awaited<ReturnType<typeof startNetwork>>

beforeAll(async () => {
  origin = await startOrigin({ env: { ORIGIN_BODY_TIMEOUT: '1s' } })
  cache = await startCache({ originUrl: origin.url, env: { CACHE_BODY_TIMEOUT: '1s' } })
  net = await startNetwork({ env: { CONTROL_PLANE_BODY_TIMEOUT: '1s' } })
})

afterAll(async () => {
  await cache?.close()
  if (origin) await closeHttp(origin.url)
  await origin?.close()
  await net?.close()
})

const port = (url: string) => Number(new URL(url).port)

/** The answers every program gives to an oversized request line and oversized headers. */
function oversized(name: string, url: () => string) {
  it(`${name}: answers a 100 kB URL with 431 and a body`, async () => {
    const out = await longUrl(port(url()), 100_000, WAIT_MS)
    expect(statusOf(out)).toBe(431)
    expect(bodyOf(out)).toContain('16 KiB')
    expect(out.closed).toBe(true)
  })

  it(`${name}: answers 40 KiB of headers with 431 and a body`, async () => {
    const out = await hugeHeaders(port(url()), 40, WAIT_MS)
    expect(statusOf(out)).toBe(431)
    expect(bodyOf(out)).toContain('16 KiB')
  })
}

describe('origin', () => {
  it('drops an upload PATCH whose body stalls; the session stays at its acknowledged offset', async () => {
    const repo = 'admin/stalled'
    const start = await http('POST', `${origin.url}/v2/${repo}/blobs/uploads/`)
    expect(start.status).toBe(202)
    const location = start.headers.location!
    const token = await tokenFor(origin.url, [`repository:${repo}:pull,push`], TEST_ADMIN)
    const path = new URL(uploadUrl(origin.url, location)).pathname + new URL(uploadUrl(origin.url, location)).search
    const out = await stalledBody(port(origin.url), path, WAIT_MS, { headers: { authorization: `Bearer ${token}` } })
    expect(out.closed).toBe(true)
    expect(statusOf(out)).toBe(408)
    // nothing of the dropped chunk is visible: the session is where it was, and takes the chunk again
    const status = await http('GET', uploadUrl(origin.url, location))
    expect(status.status).toBe(204)
    expect(status.headers.range).toBe('0-0')
    const again = await http('PATCH', uploadUrl(origin.url, location), {
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(100, 0x61),
    })
    expect(again.status).toBe(202)
    expect(again.headers.range).toBe('0-99')
  })

  oversized('origin', () => origin.url)
})

describe('cache node', () => {
  it('drops a PATCH whose body stalls', async () => {
    const out = await stalledBody(port(cache.url), '/v2/library/x/blobs/uploads/1', WAIT_MS)
    expect(out.closed).toBe(true)
  })

  oversized('cache node', () => cache.url)
})

describe('control plane', () => {
  it('drops a request whose body stalls', async () => {
    // 10^9 bytes would be refused at once (413): its JSON bodies are small
    const bearer = (net.admin as { bearer: string }).bearer
    const out = await stalledBody(port(net.cp.url), '/api/v0/sites', WAIT_MS, {
      method: 'POST',
      contentLength: 1000,
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    })
    expect(out.closed).toBe(true)
    expect(statusOf(out)).toBe(408)
  })

  it('drops a PATCH whose body stalls', async () => {
    const out = await stalledBody(port(net.cp.url), '/api/v0/sites/x', WAIT_MS)
    expect(out.closed).toBe(true)
  })

  oversized('control plane', () => net.cp.url)
})
