/**
 * A small registry on node:http for cache tests: enough of the distribution API to be an upstream (GET and HEAD
 * of blobs with Range, manifests by tag and digest, tags list), optionally behind Docker token auth with an
 * anonymous token realm like Docker Hub's, with every request recorded and a hook to inject faults per request.
 */
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { content, type Content } from './oci-fixtures.ts'

export interface SeenRequest {
  method: string
  /** Path and query. */
  path: string
  authorization?: string
  range?: string
}

/**
 * Answers a request before the registry does; return true when it was handled. `next()` lets the registry answer
 * after all (the hook may still have changed something, e.g. with a delayed call).
 */
export type Intercept = (req: IncomingMessage, res: ServerResponse, seen: SeenRequest) => boolean | Promise<boolean>

export interface FakeRegistry {
  url: string
  host: string
  requests: SeenRequest[]
  /** Requests matching method and a path pattern. */
  count(method: string, path: RegExp): number
  intercept: Intercept | undefined
  /** Adds a blob to a repository (and returns it). */
  addBlob(repo: string, bytes: Buffer | Content): Content
  /** Stores a manifest in a repository by digest and, when given, points a tag at it. */
  putManifest(repo: string, m: { bytes: Buffer; mediaType: string }, tag?: string): Content
  deleteTag(repo: string, tag: string): void
  blob(digest: string): Buffer | undefined
  close(): Promise<void>
}

export interface FakeRegistryOptions {
  /** Require anonymous bearer tokens from `<url>/token` (Docker Hub's flow). */
  tokenAuth?: boolean
  /** Body chunk size for blob GETs (smaller means more chunks, so faults can land mid-body). */
  chunkSize?: number
}

export async function startFakeRegistry(opts: FakeRegistryOptions = {}): Promise<FakeRegistry> {
  const blobs = new Map<string, Buffer>()
  const repoBlobs = new Map<string, Set<string>>()
  const manifests = new Map<string, { bytes: Buffer; mediaType: string }>()
  const tags = new Map<string, string>()
  const requests: SeenRequest[] = []
  const chunkSize = opts.chunkSize ?? 64 * 1024
  let issued = 0
  const tokens = new Set<string>()

  const reg: FakeRegistry = {
    url: '',
    host: '',
    requests,
    intercept: undefined,
    count: (method, path) => requests.filter((r) => r.method === method && path.test(r.path)).length,
    addBlob(repo, bytes) {
      const c = Buffer.isBuffer(bytes) ? content(bytes) : bytes
      blobs.set(c.digest, c.bytes)
      const set = repoBlobs.get(repo) ?? new Set()
      set.add(c.digest)
      repoBlobs.set(repo, set)
      return c
    },
    putManifest(repo, m, tag) {
      const c = content(m.bytes)
      manifests.set(`${repo}@${c.digest}`, m)
      if (tag) tags.set(`${repo}:${tag}`, c.digest)
      return c
    },
    deleteTag(repo, tag) {
      tags.delete(`${repo}:${tag}`)
    },
    blob: (digest) => blobs.get(digest),
    close: async () => undefined,
  }

  const server: Server = createServer((req, res) => {
    void handle(req, res).catch(() => res.destroy())
  })

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const seen: SeenRequest = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      authorization: req.headers.authorization,
      range: req.headers.range,
    }
    requests.push(seen)
    const url = new URL(req.url ?? '/', 'http://fake')
    if (url.pathname === '/token') {
      const token = `anon-${++issued}`
      tokens.add(token)
      return json(res, 200, { token, expires_in: 300 })
    }
    if (reg.intercept && (await reg.intercept(req, res, seen))) return
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0')
    if (opts.tokenAuth) {
      const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1]
      if (!bearer || !tokens.has(bearer)) {
        const m = /^\/v2\/(.+)\/(?:blobs|manifests|tags)\//.exec(url.pathname)
        const scope = m ? `,scope="repository:${m[1]}:pull"` : ''
        res.setHeader('WWW-Authenticate', `Bearer realm="${reg.url}/token",service="fake-registry"${scope}`)
        return json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'token required', detail: null }] })
      }
    }
    if (url.pathname === '/v2/' || url.pathname === '/v2') return json(res, 200, {})
    let m = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(url.pathname)
    if (m) {
      const [, repo, digest] = m as unknown as [string, string, string]
      const bytes = repoBlobs.get(repo)?.has(digest) ? blobs.get(digest) : undefined
      if (!bytes) return json(res, 404, { errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown', detail: null }] })
      return sendBlob(req, res, bytes, digest, chunkSize)
    }
    m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname)
    if (m) {
      const [, repo, ref] = m as unknown as [string, string, string]
      const digest = ref.includes(':') ? ref : tags.get(`${repo}:${ref}`)
      const man = digest ? manifests.get(`${repo}@${digest}`) : undefined
      if (!man || !digest)
        return json(res, 404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: null }] })
      res.writeHead(200, {
        'Content-Type': man.mediaType,
        'Content-Length': man.bytes.byteLength,
        'Docker-Content-Digest': digest,
      })
      res.end(req.method === 'HEAD' ? undefined : man.bytes)
      return
    }
    m = /^\/v2\/(.+)\/tags\/list$/.exec(url.pathname)
    if (m) {
      const repo = m[1]!
      const names = [...tags.keys()]
        .filter((k) => k.startsWith(`${repo}:`))
        .map((k) => k.slice(repo.length + 1))
        .sort()
      if (names.length === 0)
        return json(res, 404, { errors: [{ code: 'NAME_UNKNOWN', message: 'repository unknown', detail: null }] })
      const n = Number(url.searchParams.get('n') ?? names.length)
      const last = url.searchParams.get('last')
      const rest = last ? names.filter((t) => t > last) : names
      const page = rest.slice(0, n)
      if (rest.length > n) res.setHeader('Link', `</v2/${repo}/tags/list?n=${n}&last=${page.at(-1)}>; rel="next"`)
      return json(res, 200, { name: repo, tags: page })
    }
    return json(res, 404, { errors: [{ code: 'UNSUPPORTED', message: 'not here', detail: null }] })
  }

  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  reg.host = `127.0.0.1:${port}`
  reg.url = `http://${reg.host}`
  reg.close = async () => {
    server.closeAllConnections()
    server.close()
    await once(server, 'close').catch(() => undefined)
  }
  return reg
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) })
  res.end(text)
}

/** A blob answer with Range support, written in chunks. */
export function sendBlob(
  req: IncomingMessage,
  res: ServerResponse,
  bytes: Buffer,
  digest: string,
  chunkSize = 64 * 1024,
): void {
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': digest,
  }
  let body = bytes
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '')
  if (range) {
    const start = Number(range[1])
    const end = range[2] ? Math.min(Number(range[2]), bytes.length - 1) : bytes.length - 1
    body = bytes.subarray(start, end + 1)
    headers['Content-Range'] = `bytes ${start}-${end}/${bytes.length}`
  }
  headers['Content-Length'] = body.byteLength
  res.writeHead(range ? 206 : 200, headers)
  if (req.method === 'HEAD') {
    res.end()
    return
  }
  writeChunks(res, body, chunkSize)
}

/** Writes a body in chunks, respecting backpressure. */
export function writeChunks(
  res: ServerResponse,
  body: Buffer,
  chunkSize: number,
  onChunk?: (offset: number) => boolean,
): void {
  let off = 0
  const pump = () => {
    while (off < body.length) {
      if (onChunk && !onChunk(off)) return
      const end = Math.min(off + chunkSize, body.length)
      const ok = res.write(body.subarray(off, end))
      off = end
      if (!ok) {
        res.once('drain', pump)
        return
      }
    }
    res.end()
  }
  pump()
}
