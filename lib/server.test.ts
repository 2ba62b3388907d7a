import { connect, type Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { listen } from './server.ts'

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
