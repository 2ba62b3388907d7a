import { connect, type Socket } from 'node:net'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { bodyOf, hugeHeaders, longUrl, rawExchange, stalledBody, statusOf } from '../test/helpers/raw-http.ts'
import { listen, type FetchHandler } from './server.ts'

/** Sends one HTTP/1.1 request on a raw socket and resolves with the response once `bodyBytes` of body arrived. */
function rawGet(port: number, path: string, bodyBytes: number): Promise<{ socket: Socket; head: string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: test\r\n\r\n`))
    const closed = new Promise<void>((r) => socket.once('close', () => r()))
    let buf = Buffer.alloc(0)
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      const end = buf.indexOf('\r\n\r\n')
      if (end >= 0 && buf.length - end - 4 >= bodyBytes) resolve({ socket, head: buf.subarray(0, end).toString('latin1'), closed })
    })
    socket.once('error', reject)
  })
}

describe('listen().close()', () => {
  it('resolves with no connection open', async () => {
    const srv = await listen({ host: '127.0.0.1', port: 0, fetch: () => new Response('ok') })
    expect(srv.port).toBeGreaterThan(0)
    await srv.close()
    expect(srv.server.listening).toBe(false)
  })

  it('ends an idle keep-alive connection', async () => {
    const srv = await listen({ host: '127.0.0.1', port: 0, fetch: () => new Response('ok') })
    srv.server.keepAliveTimeout = 0 // no timeout would end the connection for close()
    const { head, closed } = await rawGet(srv.port, '/', 2)
    expect(head).toMatch(/^HTTP\/1\.1 200/)
    expect(head).toMatch(/connection: keep-alive/i)
    await srv.close()
    await closed
  })

  it(
    'also ends a keep-alive connection whose response finishes only after close() was called',
    async () => {
      // a streamed response whose end comes after the client has every byte (Content-Length is satisfied) and after
      // close() ran: the connection turns idle only then, and must still be ended for close() to resolve
      let release!: () => void
      const released = new Promise<void>((r) => (release = r))
      const size = 300_000
      const srv = await listen({
        host: '127.0.0.1',
        port: 0,
        fetch: () =>
          new Response(
            new ReadableStream({
              async start(controller) {
                controller.enqueue(new Uint8Array(size))
                await released
                controller.close()
              },
            }),
            { headers: { 'content-length': String(size) } },
          ),
      })
      srv.server.keepAliveTimeout = 0 // without the fix, nothing else would ever end this connection
      const { head, closed } = await rawGet(srv.port, '/', size)
      expect(head).toMatch(/^HTTP\/1\.1 200/)
      const closing = srv.close()
      release()
      await closing
      await closed
      expect(srv.server.listening).toBe(false)
    },
    20_000,
  )

  it('lets a request in flight finish before resolving', async () => {
    let release!: () => void
    const released = new Promise<void>((r) => (release = r))
    let entered!: () => void
    const inHandler = new Promise<void>((r) => (entered = r))
    const srv = await listen({
      host: '127.0.0.1',
      port: 0,
      fetch: async () => {
        entered()
        await released
        return new Response('late but whole')
      },
    })
    const response = fetch(`http://127.0.0.1:${srv.port}/`).then(async (r) => [r.status, await r.text()] as const)
    await inHandler
    const closing = srv.close()
    release()
    expect(await response).toEqual([200, 'late but whole'])
    await closing
  })
})

/** Every body byte the handler reads, counted; answers 200 with the count. */
const readsBody: FetchHandler = async (req) => {
  let n = 0
  if (req.body) for await (const chunk of req.body as unknown as AsyncIterable<Uint8Array>) n += chunk.byteLength
  return new Response(String(n))
}

const SHORT = { bodyTimeoutMs: 1000, sendTimeoutMs: 1000 }
/** Far past the 1 s limit, far below the 10-minute socket timeout that held such connections before. */
const WAIT_MS = 15_000

describe('listen(): stalled request bodies', () => {
  it('drops a body that stops after 100 of 10^9 announced bytes, answering 408 with a body', async () => {
    const srv = await listen({ host: '127.0.0.1', port: 0, fetch: readsBody, limits: SHORT })
    try {
      const out = await stalledBody(srv.port, '/upload', WAIT_MS)
      expect(out.closed).toBe(true)
      expect(statusOf(out)).toBe(408)
      expect(bodyOf(out)).toContain('no progress')
    } finally {
      await srv.close()
    }
  })

  it('keeps a slow body that keeps arriving', async () => {
    const srv = await listen({ host: '127.0.0.1', port: 0, fetch: readsBody, limits: SHORT })
    try {
      const parts = Array.from({ length: 8 }, () => 'x'.repeat(10))
      const res = await fetch(`http://127.0.0.1:${srv.port}/upload`, {
        method: 'PATCH',
        body: Readable.toWeb(
          Readable.from(
            (async function* () {
              for (const p of parts) {
                await sleep(400)
                yield Buffer.from(p)
              }
            })(),
          ),
        ) as ReadableStream,
        duplex: 'half',
      } as RequestInit)
      expect(res.status).toBe(200)
      expect(await res.text()).toBe('80')
    } finally {
      await srv.close()
    }
  })

  it('does not blame the client when the program is the one not reading', async () => {
    const srv = await listen({
      host: '127.0.0.1',
      port: 0,
      limits: SHORT,
      fetch: async (req, env) => {
        await sleep(2500) // a slow disk, say: the body waits on our side
        return readsBody(req, env)
      },
    })
    try {
      const res = await fetch(`http://127.0.0.1:${srv.port}/upload`, { method: 'PATCH', body: Buffer.alloc(2 << 20) })
      expect(res.status).toBe(200)
      expect(await res.text()).toBe(String(2 << 20))
    } finally {
      await srv.close()
    }
  })
})

describe('listen(): oversized request lines and headers', () => {
  it('answers a 100 kB URL with 431 and a body, not a reset', async () => {
    const srv = await listen({ host: '127.0.0.1', port: 0, fetch: () => new Response('ok') })
    try {
      const out = await longUrl(srv.port, 100_000, WAIT_MS)
      expect(statusOf(out)).toBe(431)
      expect(JSON.parse(bodyOf(out))).toMatchObject({ errors: [{ message: expect.stringContaining('16 KiB') }] })
      expect(out.closed).toBe(true)
    } finally {
      await srv.close()
    }
  })

  it('answers 40 KiB of headers with 431 and a body', async () => {
    const srv = await listen({ host: '127.0.0.1', port: 0, fetch: () => new Response('ok') })
    try {
      const out = await hugeHeaders(srv.port, 40, WAIT_MS)
      expect(statusOf(out)).toBe(431)
      expect(bodyOf(out)).toContain('headers')
    } finally {
      await srv.close()
    }
  })

  it('answers garbage with 400 and a body', async () => {
    const srv = await listen({ host: '127.0.0.1', port: 0, fetch: () => new Response('ok') })
    try {
      const out = await rawExchange(srv.port, 'NOT HTTP AT ALL\r\n\r\n', WAIT_MS)
      expect(statusOf(out)).toBe(400)
      expect(bodyOf(out)).toContain('HTTP')
    } finally {
      await srv.close()
    }
  })
})

describe('listen(): clients that stop reading', () => {
  it('drops a response the client takes nothing of for the send timeout', async () => {
    const srv = await listen({
      host: '127.0.0.1',
      port: 0,
      limits: SHORT,
      fetch: () => new Response(Readable.toWeb(Readable.from(endless())) as ReadableStream),
    })
    const serverSide = new Promise<Socket>((resolve) => srv.server.once('connection', resolve))
    const client = connect(srv.port, '127.0.0.1', () => client.write('GET / HTTP/1.1\r\nHost: test\r\n\r\n'))
    client.pause() // never reads
    try {
      const socket = await serverSide
      const closed = await Promise.race([
        new Promise<boolean>((r) => socket.once('close', () => r(true))),
        sleep(WAIT_MS).then(() => false),
      ])
      expect(closed).toBe(true)
    } finally {
      client.destroy()
      await srv.close()
    }
  })
})

async function* endless(): AsyncGenerator<Buffer> {
  const chunk = Buffer.alloc(1 << 20)
  for (let i = 0; i < 4096; i++) yield chunk
}
