/**
 * The machine-limit server (run as its own process so client and server are separate, as for the registries):
 * plain node:http on 127.0.0.1:0, printing `LOOPBACK_READY <port>`.
 *   GET /mem?bytes=N   N bytes from one 1 MiB buffer written over and over, honouring 'drain' (no disk, no copies)
 *   GET /file?path=P   the file streamed with fs.createReadStream, 1 MiB highWaterMark (as the anchors measured)
 */
import { createReadStream, statSync } from 'node:fs'
import { createServer } from 'node:http'
import { pipeline } from 'node:stream/promises'

const chunk = Buffer.alloc(1024 * 1024, 0x5a)

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x')
  if (url.pathname === '/mem') {
    const total = Number(url.searchParams.get('bytes') ?? 0)
    res.writeHead(200, { 'content-length': String(total), 'content-type': 'application/octet-stream' })
    let left = total
    const write = (): void => {
      while (left > 0) {
        const n = Math.min(left, chunk.length)
        left -= n
        if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          res.once('drain', write)
          return
        }
      }
      res.end()
    }
    res.on('close', () => (left = 0))
    write()
    return
  }
  if (url.pathname === '/file') {
    const path = url.searchParams.get('path') ?? ''
    const size = statSync(path).size
    res.writeHead(200, { 'content-length': String(size), 'content-type': 'application/octet-stream' })
    pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), res).catch(() => undefined)
    return
  }
  res.writeHead(404).end()
})
server.listen(0, '127.0.0.1', () => {
  const addr = server.address()
  process.stdout.write(`LOOPBACK_READY ${typeof addr === 'object' && addr ? addr.port : 0}\n`)
})
