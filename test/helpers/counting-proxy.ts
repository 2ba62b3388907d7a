/**
 * A transparent node:http proxy for cache tests: sits between a cache and its upstream, records every request,
 * and can hold blob response bodies after some bytes until released (so a test can act while a fill is running
 * without any timing).
 */
import { once } from 'node:events'
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface ProxiedRequest {
  method: string
  path: string
  status?: number
}

export interface CountingProxy {
  url: string
  requests: ProxiedRequest[]
  /** Requests matching method and a path pattern. */
  count(method: string, path: RegExp): number
  /** From now on, blob GET bodies stop after `bytes` bytes until release(). */
  hold(bytes: number): void
  release(): void
  /** Resolves once this many blob body bytes have passed through. */
  blobBytesPassed(bytes: number): Promise<void>
  close(): Promise<void>
}

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const to = new URL(target)
  const requests: ProxiedRequest[] = []
  let holdAt: number | undefined
  let released: Promise<void> = Promise.resolve()
  let release = () => undefined as void
  let passed = 0
  const waiters: { bytes: number; resolve: () => void }[] = []
  const notify = () => {
    for (const w of [...waiters]) {
      if (passed >= w.bytes) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve()
      }
    }
  }

  const server = createServer((req, res) => {
    const seen: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/' }
    requests.push(seen)
    const isBlobGet = req.method === 'GET' && /\/blobs\/[^/]+$/.test((req.url ?? '').split('?')[0]!)
    const up = httpRequest(
      {
        host: to.hostname,
        port: to.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: to.host },
      },
      (upRes: IncomingMessage) => {
        seen.status = upRes.statusCode
        res.writeHead(upRes.statusCode ?? 502, upRes.headers)
        if (!isBlobGet) {
          upRes.pipe(res)
          return
        }
        let sent = 0
        void (async () => {
          try {
            for await (const chunk of upRes as AsyncIterable<Buffer>) {
              let data = chunk
              while (data.length > 0) {
                if (holdAt !== undefined && sent >= holdAt) await released
                const room = holdAt !== undefined && sent < holdAt ? holdAt - sent : data.length
                const part = data.subarray(0, room)
                data = data.subarray(part.length)
                sent += part.length
                passed += part.length
                if (!res.write(part)) await once(res, 'drain')
                notify()
              }
            }
            res.end()
          } catch {
            res.destroy()
          }
        })()
      },
    )
    up.on('error', () => res.destroy())
    req.pipe(up)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    count: (method, path) => requests.filter((r) => r.method === method && path.test(r.path)).length,
    hold(bytes) {
      holdAt = bytes
      released = new Promise<void>((resolve) => (release = resolve))
    },
    release() {
      holdAt = undefined
      release()
    },
    blobBytesPassed(bytes) {
      if (passed >= bytes) return Promise.resolve()
      return new Promise((resolve) => waiters.push({ bytes, resolve }))
    },
    async close() {
      release()
      server.closeAllConnections()
      server.close()
      await once(server, 'close').catch(() => undefined)
    },
  }
}
