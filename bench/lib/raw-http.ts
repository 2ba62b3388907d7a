/**
 * HTTP/1.1 over a plain socket, for requests no HTTP client library will send: raw bytes in the request line
 * (NUL, UTF-8, spaces), duplicate or contradictory framing headers, bodies shorter or longer than their
 * Content-Length. Reads one response (interim 1xx answers skipped) and reports what happened without throwing.
 */
import { connect } from 'node:net'

export interface RawResponse {
  /** The final status, or 0 when no status line arrived. */
  status: number
  /** Header names lowercased; repeated headers joined with ", ". */
  headers: Record<string, string>
  /** At most `maxBody` bytes of the body. */
  body: Buffer
  /**
   * answer: a status line and headers arrived (the body may be cut short: see `truncated`); closed: the server
   * closed or reset the connection without answering; timeout: nothing within `timeoutMs`; error: the connection
   * failed otherwise (refused...).
   */
  outcome: 'answer' | 'closed' | 'timeout' | 'error'
  truncated: boolean
  error?: string
  ms: number
}

export interface RawOptions {
  timeoutMs: number
  /** The request was a HEAD: the answer has no body whatever its headers say. */
  head?: boolean
  maxBody?: number
}

/** Sends `bytes` to 127.0.0.1:`port` as they are and reads the answer. */
export function rawRequest(port: number, bytes: Buffer, opts: RawOptions): Promise<RawResponse> {
  const t0 = performance.now()
  const maxBody = opts.maxBody ?? 256 * 1024
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let buf = Buffer.alloc(0)
    let status = 0
    let headers: Record<string, string> = {}
    let bodyStart = -1
    let settled = false
    const finish = (outcome: RawResponse['outcome'], error?: string, truncated = false) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      const body = bodyStart >= 0 ? buf.subarray(bodyStart, bodyStart + maxBody) : Buffer.alloc(0)
      resolve({
        status,
        headers,
        body: Buffer.from(body),
        outcome,
        truncated,
        ...(error ? { error } : {}),
        ms: performance.now() - t0,
      })
    }
    const timer = setTimeout(
      () => finish(status ? 'answer' : 'timeout', status ? 'body timed out' : undefined, true),
      opts.timeoutMs,
    )

    const parseHead = (): boolean => {
      // skip interim answers (100 Continue...), then take the final status line and headers
      for (;;) {
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) return false
        const head = buf.subarray(0, end).toString('latin1')
        const lines = head.split('\r\n')
        const m = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(lines[0] ?? '')
        const code = m ? Number(m[1]) : 0
        if (code >= 100 && code < 200 && code !== 101) {
          buf = buf.subarray(end + 4)
          continue
        }
        status = code || -1
        headers = {}
        for (const line of lines.slice(1)) {
          const i = line.indexOf(':')
          if (i <= 0) continue
          const k = line.slice(0, i).trim().toLowerCase()
          const v = line.slice(i + 1).trim()
          headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`
        }
        bodyStart = end + 4
        return true
      }
    }

    const complete = (): boolean => {
      if (opts.head || status === 204 || status === 304) return true
      const have = buf.length - bodyStart
      const length = headers['content-length']
      if (length !== undefined && /^\d+$/.test(length)) return have >= Number(length) || have >= maxBody
      if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
        return (
          buf.subarray(bodyStart).includes('\r\n0\r\n\r\n') ||
          buf.subarray(bodyStart, bodyStart + 5).toString() === '0\r\n\r\n' ||
          have >= maxBody
        )
      }
      return have >= maxBody
    }

    socket.on('connect', () => {
      socket.write(bytes)
    })
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      if (bodyStart < 0 && !parseHead()) return
      if (complete()) finish('answer')
    })
    socket.on('end', () => {
      if (bodyStart < 0 && !parseHead()) finish('closed', 'connection closed before an answer')
      else finish('answer', undefined, !complete())
    })
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (bodyStart >= 0) finish('answer', err.code ?? err.message, true)
      else finish(err.code === 'ECONNRESET' || err.code === 'EPIPE' ? 'closed' : 'error', err.code ?? err.message)
    })
  })
}
