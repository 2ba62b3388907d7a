/**
 * A node:http proxy in front of the control plane that can lose answers: the request reaches the control plane
 * and is acted on, but the caller never hears back (its connection is cut). This is the one failure that makes a
 * retried delivery a duplicate, so idempotency can be shown with the real control plane behind it.
 */
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface LossyProxy {
  url: string
  /** Requests seen, by method and path (query left out). */
  requests: { method: string; path: string; body: string; status?: number; lost: boolean }[]
  /**
   * The next `n` answers to requests whose path matches (and whose body passes `when`) are lost after the control
   * plane has acted on them.
   */
  loseAnswers(path: RegExp, n: number, when?: (body: string) => boolean): void
  close(): Promise<void>
}

export async function startLossyProxy(target: string): Promise<LossyProxy> {
  const to = new URL(target)
  const requests: LossyProxy['requests'] = []
  const losses: { path: RegExp; left: number; when: (body: string) => boolean }[] = []
  const server = createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!
    // control-plane requests are small JSON documents: read them whole, so a loss can depend on what they carry
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const body = Buffer.concat(chunks)
    const seen: LossyProxy['requests'][number] = {
      method: req.method ?? 'GET',
      path,
      body: body.toString(),
      lost: false,
    }
    requests.push(seen)
    const loss = losses.find((l) => l.left > 0 && l.path.test(path) && l.when(seen.body))
    if (loss) loss.left--
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
        if (loss) {
          // the control plane has answered, so it has acted: drop the answer on the floor
          seen.lost = true
          upRes.resume()
          upRes.once('end', () => req.socket.destroy())
          return
        }
        res.writeHead(upRes.statusCode ?? 502, upRes.headers)
        upRes.pipe(res)
      },
    )
    up.once('error', () => req.socket.destroy())
    up.end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    loseAnswers(path, n, when = () => true) {
      losses.push({ path, left: n, when })
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
