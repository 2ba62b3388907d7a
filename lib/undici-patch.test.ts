/**
 * undici 7 asserted `!this.paused` when a server closed the connection right after a complete response while the
 * body was not yet read (nodejs/undici#5360): an exception thrown from the socket's 'end' handler, which no request
 * can catch, so the process exited. patches/undici+7.30.2.patch (applied by `npm ci` through patch-package) carries
 * the upstream fix (nodejs/undici#5474). Each case runs in a child process, because the unpatched assertion kills
 * the process it happens in.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)

/**
 * A raw server writes one response (head and body parts) and ends the socket; the client leaves the body unread
 * for a while (the parser pauses on a full body buffer), then reads it. Prints `ok <bytes>` or `error <code>`.
 */
const SCRIPT = `
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { Pool } from 'undici'
const parts = JSON.parse(process.argv[1]).map((p) => typeof p === 'number' ? Buffer.alloc(p, 0x61) : p)
const server = createServer((sock) => sock.once('data', () => { for (const p of parts) sock.write(p); sock.end() }))
server.listen(0, '127.0.0.1', async () => {
  const pool = new Pool('http://127.0.0.1:' + server.address().port)
  try {
    const res = await pool.request({ path: '/', method: 'GET' })
    await sleep(200)
    let n = 0
    for await (const c of res.body) n += c.length
    console.log('ok ' + n)
  } catch (err) {
    console.log('error ' + (err.code ?? err.message))
  }
  server.close()
  await pool.close()
})
`

/** What the child printed, or `crashed: <its error>` when it exited with a failure. */
async function respond(parts: (string | number)[]): Promise<string> {
  try {
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', SCRIPT, JSON.stringify(parts)], {
      cwd: join(import.meta.dirname, '..'),
      timeout: 20_000,
    })
    return stdout.trim()
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '')
    return `crashed: ${/^\w*Error.*$/m.exec(stderr)?.[0] ?? stderr.slice(0, 300)}`
  }
}

/**
 * The assertion needs the parser to pause on the body's last bytes (the socket then ends with nothing left to
 * read): a body whose last read fills undici's 64 KiB body buffer. Longer bodies pause earlier, with the rest
 * still in the socket, and are here to show the patched path changes nothing for them.
 */
const FULL = 64 * 1024
const LONG = 256 * 1024
const head = (fields: string) => `HTTP/1.1 200 OK\r\n${fields}Connection: close\r\n\r\n`

describe('undici, when the server closes the connection after a response whose body is still unread', () => {
  it('completes a Content-Length body', async () => {
    expect(await respond([head(`Content-Length: ${FULL}\r\n`), FULL])).toBe(`ok ${FULL}`)
    expect(await respond([head(`Content-Length: ${LONG}\r\n`), LONG])).toBe(`ok ${LONG}`)
  })

  it('completes a body delimited by the end of the connection', async () => {
    expect(await respond([head(''), FULL])).toBe(`ok ${FULL}`)
    expect(await respond([head(''), LONG])).toBe(`ok ${LONG}`)
  })

  it('still fails a body shorter than its Content-Length', async () => {
    const mismatch = 'error UND_ERR_RES_CONTENT_LENGTH_MISMATCH'
    expect(await respond([head(`Content-Length: ${FULL + 10}\r\n`), FULL])).toBe(mismatch)
    expect(await respond([head(`Content-Length: ${LONG + 10}\r\n`), LONG])).toBe(mismatch)
  })

  it('completes a chunked body', async () => {
    const chunk = `${(LONG / 2).toString(16)}\r\n`
    const parts = [head('Transfer-Encoding: chunked\r\n'), chunk, LONG / 2, '\r\n', chunk, LONG / 2, '\r\n0\r\n\r\n']
    expect(await respond(parts)).toBe(`ok ${LONG}`)
  })
})
