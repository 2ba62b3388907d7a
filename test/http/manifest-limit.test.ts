/**
 * A manifest PUT on /v2/ and the POST /auth/token form are bounded as they stream (hono/body-limit): past the bound
 * (4 MiB, 64 KiB) they are a 413 whatever the framing, and the connection closes, since the rest is left unread.
 */
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { call } from '../helpers/cache-http.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'
import { tokenFor } from '../helpers/auth.ts'

const LIMIT = 4 * 1024 * 1024
let origin: Awaited<ReturnType<typeof startOrigin>>
let token: string

beforeAll(async () => {
  origin = await startOrigin()
  token = await tokenFor(origin.url, ['repository:admin/big:pull,push'], TEST_ADMIN)
})
afterAll(() => origin.close())

describe('PUT /v2/<name>/manifests/<reference> past 4 MiB', () => {
  for (const framing of ['Content-Length', 'chunked'] as const) {
    it(`is a 413 SIZE_INVALID with Connection: close (${framing})`, async () => {
      const bytes = Buffer.alloc(LIMIT + 1, 0x20)
      const res = await call(`${origin.url}/v2/admin/big/manifests/too-big`, {
        method: 'PUT',
        token,
        headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
        body:
          framing === 'chunked'
            ? (Readable.from([bytes.subarray(0, LIMIT), bytes.subarray(LIMIT)]) as unknown as Buffer)
            : bytes,
      })
      expect(res.status).toBe(413)
      expect(res.headers.connection).toBe('close')
      expect((JSON.parse(res.body.toString()) as { errors: { code: string }[] }).errors[0]!.code).toBe('SIZE_INVALID')
      expect((await call(`${origin.url}/v2/`, { token })).status).toBe(200)
    })
  }
})

describe('POST /auth/token past 64 KiB', () => {
  it('is a 413 invalid_request with Connection: close, and the origin serves on', async () => {
    const res = await call(`${origin.url}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=password&client_id=x&username=admin&password=${'p'.repeat(64 * 1024)}`,
    })
    expect(res.status).toBe(413)
    expect(res.headers.connection).toBe('close')
    expect(JSON.parse(res.body.toString())).toMatchObject({ error: 'invalid_request' })
    expect((await call(`${origin.url}/v2/`, { token })).status).toBe(200)
  })
})
