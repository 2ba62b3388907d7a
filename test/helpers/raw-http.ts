/**
 * Hostile clients on a raw socket: a request whose body stops after a few bytes, a URL or headers far past any
 * limit, and a reader that never reads. Each resolves with what the server answered and whether it closed the
 * connection, never throwing on a reset.
 */
import { connect, type Socket } from 'node:net'

export interface RawOutcome {
  /** Everything the server sent, as latin1 text. */
  response: string
  /** Whether the server closed the connection before the wait was over. */
  closed: boolean
  /** The socket error the client saw (ECONNRESET, say), if any. */
  error?: string
}

/**
 * Connects, writes `data`, and collects what comes back until the server closes the connection or `waitMs` is
 * over (then the client closes it, and `closed` is false).
 */
export function rawExchange(port: number, data: string | Buffer, waitMs: number): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let error: string | undefined
    const socket: Socket = connect(port, '127.0.0.1', () => socket.write(data))
    const timer = setTimeout(() => finish(false), waitMs)
    const finish = (closed: boolean) => {
      clearTimeout(timer)
      socket.destroy()
      resolve({ response: Buffer.concat(chunks).toString('latin1'), closed, ...(error ? { error } : {}) })
    }
    socket.on('data', (d: Buffer) => chunks.push(d))
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message))
    socket.on('close', () => finish(true))
  })
}

/** A request announcing `Content-Length: 1e9` (or `contentLength`) that sends 100 bytes of body and then nothing. */
export function stalledBody(
  port: number,
  path: string,
  waitMs: number,
  opts: { method?: string; headers?: Record<string, string>; contentLength?: number } = {},
): Promise<RawOutcome> {
  const headers = Object.entries({ 'content-type': 'application/octet-stream', ...opts.headers })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')
  const head = `${opts.method ?? 'PATCH'} ${path} HTTP/1.1\r\nHost: test\r\nContent-Length: ${opts.contentLength ?? 1e9}\r\n${headers}\r\n`
  return rawExchange(port, Buffer.concat([Buffer.from(head, 'latin1'), Buffer.alloc(100, 0x61)]), waitMs)
}

/** A GET whose URL is `bytes` long. */
export function longUrl(port: number, bytes: number, waitMs: number): Promise<RawOutcome> {
  return rawExchange(port, `GET /v2/${'a'.repeat(bytes)} HTTP/1.1\r\nHost: test\r\n\r\n`, waitMs)
}

/** A GET with `count` headers of 1 KiB each. */
export function hugeHeaders(port: number, count: number, waitMs: number): Promise<RawOutcome> {
  const headers = Array.from({ length: count }, (_, i) => `x-filler-${i}: ${'b'.repeat(1024)}\r\n`).join('')
  return rawExchange(port, `GET /v2/ HTTP/1.1\r\nHost: test\r\n${headers}\r\n`, waitMs)
}

/** The status of a raw response, or 0 when there was none. */
export function statusOf(o: RawOutcome): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(o.response)?.[1] ?? 0)
}

/** The body of a raw response (after the blank line). */
export function bodyOf(o: RawOutcome): string {
  const i = o.response.indexOf('\r\n\r\n')
  return i < 0 ? '' : o.response.slice(i + 4)
}
