import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { Agent } from 'undici'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { RegistryClient, RegistryError } from './registry-client.ts'
import { TokenClient } from './token-client.ts'

interface Seen {
  server: 'registry' | 'other'
  method: string
  path: string
  authorization: string | undefined
  body: string
}

let registry: Server
let other: Server
let base: string
let otherBase: string
let seen: Seen[] = []
/** The token the realm hands out next; a request is authorized when it carries the latest one. */
let issued = 0
let valid = new Set<string>()
let route: (req: IncomingMessage, body: string, res: ServerResponse) => boolean = () => false
const agent = new Agent({ keepAliveTimeout: 10 })

function listen(name: Seen['server']): Server {
  return createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString('utf8')))
    req.on('end', () => {
      const path = req.url!
      seen.push({ server: name, method: req.method!, path, authorization: req.headers.authorization, body })
      if (name === 'registry' && path.startsWith('/token')) {
        const token = `t${++issued}`
        valid.add(token)
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ token, expires_in: 300 }))
        return
      }
      if (route(req, body, res)) return
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN', message: 'no such repository' }] }))
    })
  }).listen(0, '127.0.0.1')
}

function authorized(req: IncomingMessage): boolean {
  const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')
  return !!m && valid.has(m[1]!)
}

function challenge(res: ServerResponse, scope?: string): true {
  res.writeHead(401, {
    'www-authenticate': `Bearer realm="${base}/token",service="test"${scope ? `,scope="${scope}"` : ''}`,
    'content-type': 'application/json',
  })
  res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }))
  return true
}

beforeAll(async () => {
  registry = listen('registry')
  other = listen('other')
  await Promise.all([once(registry, 'listening'), once(other, 'listening')])
  base = `http://127.0.0.1:${(registry.address() as AddressInfo).port}`
  otherBase = `http://127.0.0.1:${(other.address() as AddressInfo).port}`
})

afterAll(async () => {
  await agent.close()
  registry.close()
  other.close()
})

beforeEach(() => {
  seen = []
  issued = 0
  valid = new Set()
  route = () => false
})

function client(opts: { tokens?: boolean } = {}): RegistryClient {
  return new RegistryClient({
    url: base,
    dispatcher: agent,
    ...(opts.tokens === false ? {} : { tokens: new TokenClient({ dispatcher: agent }) }),
  })
}

const manifest = Buffer.from('{"schemaVersion":2}')
const manifestDigest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`

describe('RegistryClient', () => {
  it('answers a challenge with a token for the scopes the request needs, and asks up front from then on', async () => {
    route = (req, _body, res) => {
      if (!authorized(req)) return challenge(res)
      res.writeHead(200, {
        'content-type': 'application/vnd.oci.image.manifest.v1+json',
        'docker-content-digest': manifestDigest,
      })
      res.end(manifest)
      return true
    }
    const c = client()
    const got = await c.getManifest('a/b', 'v1')
    expect(got.body.equals(manifest)).toBe(true)
    expect(got.digest).toBe(manifestDigest)
    const token = seen.find((s) => s.path.startsWith('/token'))!
    expect(new URL(token.path, base).searchParams.getAll('scope')).toEqual(['repository:a/b:pull'])
    seen = []
    await c.getManifest('a/b', 'v2')
    // the challenge is known and the token held: one request, with it
    expect(seen.map((s) => [s.path, s.authorization])).toEqual([['/v2/a/b/manifests/v2', 'Bearer t1']])
  })

  it('forgets a token the registry stops honouring and asks for a new one', async () => {
    route = (req, _body, res) => {
      if (!authorized(req)) return challenge(res)
      res.writeHead(200)
      res.end('{}')
      return true
    }
    const c = client()
    await c.getManifest('a/b', 'v1')
    valid.clear()
    seen = []
    const got = await c.getManifest('a/b', 'v1')
    expect(got.body.toString()).toBe('{}')
    expect(seen.map((s) => s.authorization)).toEqual(['Bearer t1', undefined, 'Bearer t2'])
  })

  it('sends a Buffer body again after a 401, and fetches the token before sending a stream', async () => {
    route = (req, body, res) => {
      if (!authorized(req)) return challenge(res)
      if (req.method === 'POST') {
        res.writeHead(202, { location: '/v2/a/b/blobs/uploads/u1?_state=x' })
        res.end()
      } else if (req.method === 'PATCH') {
        res.writeHead(202, { location: '/v2/a/b/blobs/uploads/u1?_state=y', range: `0-${body.length - 1}` })
        res.end()
      } else {
        const digest = new URL(req.url!, base).searchParams.get('digest')!
        res.writeHead(201, { 'docker-content-digest': digest })
        res.end()
      }
      return true
    }
    const data = Buffer.from('hello')
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`
    expect(await client().pushBlob('a/b', data)).toBe(digest)
    // POST challenged and sent again; the PUT carried the data with the token
    const put = seen.find((s) => s.method === 'PUT')!
    expect(put.body).toBe('hello')
    expect(put.path).toBe(`/v2/a/b/blobs/uploads/u1?_state=x&digest=${encodeURIComponent(digest)}`)

    seen = []
    const streaming = client()
    expect(await streaming.pushBlobStream('a/b', Readable.from([Buffer.from('hel'), Buffer.from('lo')]), digest)).toBe(
      digest,
    )
    const patch = seen.find((s) => s.method === 'PATCH')!
    expect(patch.authorization).toMatch(/^Bearer t/)
    expect(patch.body).toBe('hello')
    // the stream was never challenged: the POST before it learnt the challenge
    expect(seen.filter((s) => s.method === 'PATCH')).toHaveLength(1)

    // a stream as the first request: /v2/ is pinged for the challenge before it goes
    seen = []
    const fresh = client()
    const res = await fresh.send({ method: 'PATCH', path: '/v2/a/b/blobs/uploads/u1', body: Readable.from([data]) })
    expect(res.status).toBe(202)
    await res.body.dump()
    expect(seen.map((s) => s.path.split('?')[0])).toEqual(['/v2/', '/token', '/v2/a/b/blobs/uploads/u1'])
  })

  it('follows redirects for GET, dropping Authorization once they leave the registry', async () => {
    let hops = 0
    route = (req, _body, res) => {
      if (!authorized(req)) return challenge(res)
      hops++
      res.writeHead(307, { location: hops === 1 ? '/v2/a/b/blobs/moved' : `${otherBase}/cdn/blob` })
      res.end()
      return true
    }
    const otherServe = (_req: IncomingMessage, _body: string, res: ServerResponse) => {
      res.writeHead(200, { 'content-length': '3' })
      res.end('abc')
      return true
    }
    const r = route
    route = (req, body, res) =>
      (req.socket.localPort === (other.address() as AddressInfo).port ? otherServe : r)(req, body, res)
    const res = await client().getBlob('a/b', 'sha256:00')
    expect(await res.body.text()).toBe('abc')
    expect(res.url.href).toBe(`${otherBase}/cdn/blob`)
    const moved = seen.find((s) => s.path === '/v2/a/b/blobs/moved')!
    expect(moved.authorization).toMatch(/^Bearer t/)
    const cdn = seen.find((s) => s.server === 'other')!
    expect(cdn.authorization).toBeUndefined()
  })

  it('refuses a sixth redirect and a redirect to a non-HTTP URL, and does not follow for other methods', async () => {
    route = (_req, _body, res) => {
      res.writeHead(302, { location: '/v2/loop' })
      res.end()
      return true
    }
    const c = client({ tokens: false })
    await expect(c.send({ method: 'GET', path: '/v2/loop' })).rejects.toMatchObject({ reason: 'REDIRECT' })
    expect(seen).toHaveLength(6)
    route = (_req, _body, res) => {
      res.writeHead(302, { location: 'file:///etc/passwd' })
      res.end()
      return true
    }
    await expect(c.send({ method: 'GET', path: '/v2/x' })).rejects.toBeInstanceOf(RegistryError)
    const put = await c.send({ method: 'PUT', path: '/v2/x', body: 'y' })
    expect(put.status).toBe(302)
    await put.body.dump()
  })

  it('throws the registry status and OCI codes for an answer the step does not allow', async () => {
    const c = client({ tokens: false })
    const err = (await c.getManifest('no/such', 'v1').catch((e: unknown) => e)) as RegistryError
    expect(err).toBeInstanceOf(RegistryError)
    expect(err).toMatchObject({
      reason: 'STATUS',
      status: 404,
      codes: ['NAME_UNKNOWN'],
      messages: ['no such repository'],
    })
    expect(err.message).toContain('404 NAME_UNKNOWN: no such repository')
    expect(await c.headBlob('no/such', 'sha256:00')).toBeUndefined()
  })

  it('checks the digest a registry says it stored', async () => {
    route = (_req, _body, res) => {
      res.writeHead(201, { 'docker-content-digest': 'sha256:' + '0'.repeat(64) })
      res.end()
      return true
    }
    await expect(
      client({ tokens: false }).putManifest('a/b', 'v1', manifest, 'application/json'),
    ).rejects.toMatchObject({
      reason: 'PROTOCOL',
    })
  })

  it('never asks for a token without a TokenClient, or when the request carries its own Authorization', async () => {
    route = (_req, _body, res) => challenge(res)
    const res = await client({ tokens: false }).send({ method: 'GET', path: '/v2/a/b/tags/list' })
    expect(res.status).toBe(401)
    await res.body.dump()
    const own = await client().send({
      method: 'GET',
      path: '/v2/a/b/tags/list',
      headers: { Authorization: 'Bearer mine' },
    })
    expect(own.status).toBe(401)
    await own.body.dump()
    expect(seen.some((s) => s.path.startsWith('/token'))).toBe(false)
  })
})
