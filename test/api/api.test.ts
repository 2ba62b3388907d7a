import { Readable } from 'node:stream'
import { Client } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiClient, type ApiClient } from '../helpers/api.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'

const logLines: Record<string, unknown>[] = []
let origin: Awaited<ReturnType<typeof startOrigin>>
let api: ApiClient

beforeAll(async () => {
  origin = await startOrigin({ logLines })
  api = apiClient(origin.url)
})
afterAll(async () => {
  await origin?.close()
})

describe('/api/v0 errors', () => {
  it('answers unknown paths with a JSON 404', async () => {
    for (const [method, path] of [
      ['GET', '/nope'],
      ['DELETE', '/nope/accounts'],
      ['PUT', '/repositories/acme/roles/_grants/robots/x'],
      ['GET', '/'],
    ] as const) {
      const res = await api.call(method, path, TEST_ADMIN)
      expect(res.status, `${method} ${path}`).toBe(404)
      expect(res.headers.get('content-type')).toMatch(/^application\/json/)
      expect(res.body.error).toMatchObject({
        code: 'NOT_FOUND',
        message: expect.stringContaining(path === '/' ? '/api/v0' : path),
      })
    }
  })

  it('answers a known path asked with another method with a JSON 405 and Allow', async () => {
    for (const [method, path, allow] of [
      ['DELETE', '/accounts', 'GET, HEAD, POST'],
      ['PUT', '/meta/settings', 'GET, HEAD, POST, PATCH'],
      ['POST', '/accounts/alice', 'GET, HEAD, PATCH, DELETE'],
      ['GET', '/meta/keys/rotate', 'POST'],
      ['POST', '/repositories/acme/app/teamAccess/devs', 'PUT, DELETE'],
    ] as const) {
      const res = await api.call(method, path, TEST_ADMIN)
      expect(res.status, `${method} ${path}`).toBe(405)
      expect(res.headers.get('allow'), `${method} ${path}`).toBe(allow)
      expect(res.headers.get('content-type')).toMatch(/^application\/json/)
      expect(res.body.error).toMatchObject({ code: 'METHOD_NOT_ALLOWED', message: expect.stringContaining(path) })
    }
  })

  it('answers a body that is not JSON, or not an object, with 400 BAD_REQUEST', async () => {
    const cases: [unknown, Record<string, string>][] = [
      ['{"name":', {}],
      ['[1,2]', {}],
      ['"alice"', {}],
      ['{"name":"x"}', { 'content-type': 'text/plain' }],
    ]
    for (const [body, headers] of cases) {
      const res = await api.call('POST', '/accounts', TEST_ADMIN, body, headers)
      expect(res.status, String(body)).toBe(400)
      expect(res.body.error.code).toBe('BAD_REQUEST')
      expect(typeof res.body.error.message).toBe('string')
    }
  })

  it('refuses the keys of Object.prototype (__proto__, constructor, toString) as the unknown fields they are', async () => {
    for (const key of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      // written as text: an object literal's __proto__ would set the prototype instead of making a key
      const res = await api.call('POST', '/accounts', TEST_ADMIN, `{"name":"proto-${key.length}","${key}":{"isAdmin":true}}`)
      expect(res.status, key).toBe(400)
      expect(res.body.error.message, key).toContain(`unknown field ${key}`)
    }
    expect((await api.call('GET', '/accounts/proto-9', TEST_ADMIN)).status).toBe(404)
  })

  it('refuses a body over 64 KiB with 413, and closes that connection cleanly so the next request gets through', async () => {
    const res = await api.call('POST', '/accounts', TEST_ADMIN, { name: 'big', fullName: 'x'.repeat(70_000) })
    expect(res.status).toBe(413)
    expect(res.body.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', message: expect.stringMatching(/exceeds 65536 bytes/) })
    // one connection, as a keep-alive client uses it: the unread rest of the body must not eat the next request
    const client = new Client(origin.url, { pipelining: 0 })
    try {
      for (const body of [Buffer.alloc(700_000, 0x61), Readable.from([Buffer.alloc(300_000, 0x62), Buffer.alloc(400_000, 0x63)])]) {
        const big = await client.request({ method: 'POST', path: '/api/v0/accounts', headers: { 'content-type': 'application/json' }, body })
        expect(big.statusCode).toBe(413)
        expect(big.headers.connection).toBe('close')
        await big.body.dump()
        const next = await client.request({ method: 'GET', path: '/v2/' })
        expect(next.statusCode).toBe(401)
        await next.body.dump()
      }
    } finally {
      await client.close()
    }
  })

  it('turns an unexpected failure into a 500 INTERNAL without details, and logs it', async () => {
    const events = origin.deps.identity.events
    const list = events.list.bind(events)
    events.list = () => {
      throw new Error('disk on fire')
    }
    try {
      const res = await api.call('GET', '/events', TEST_ADMIN)
      expect(res.status).toBe(500)
      expect(res.body).toEqual({ error: { code: 'INTERNAL', message: 'internal error', detail: null } })
      const line = logLines.find((l) => l.msg === 'unhandled error')
      expect(line).toBeDefined()
      expect((line!.err as { message: string }).message).toBe('disk on fire')
      expect(line!.reqId).toEqual(expect.any(String))
    } finally {
      events.list = list
    }
    expect((await api.call('GET', '/events', TEST_ADMIN)).status).toBe(200)
  })

  it('marks every answer as not cacheable', async () => {
    expect((await api.call('GET', '/repositories')).headers.get('cache-control')).toBe('no-store')
    expect((await api.call('GET', '/me')).headers.get('cache-control')).toBe('no-store')
  })

  it('logs one request line per call, without credentials or query secrets', async () => {
    const before = logLines.length
    await api.call('GET', '/me', TEST_ADMIN)
    const lines = logLines.slice(before).filter((l) => l.msg === 'request')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ method: 'GET', path: '/api/v0/me', status: 200 })
    expect(JSON.stringify(logLines)).not.toContain(TEST_ADMIN.password)
  })
})
