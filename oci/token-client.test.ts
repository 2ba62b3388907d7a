import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Agent } from 'undici'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { TokenClient, TokenError } from './token-client.ts'

let server: Server
let realm: string
let seen: { method: string; url: URL; authorization: string | undefined; body: string }[] = []
let answer: (req: IncomingMessage) => { status: number; body?: unknown } = () => ({ status: 200, body: {} })
const agent = new Agent({ keepAliveTimeout: 10 })

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString('utf8')))
    req.on('end', () => {
      seen.push({
        method: req.method!,
        url: new URL(req.url!, 'http://x'),
        authorization: req.headers.authorization,
        body,
      })
      const a = answer(req)
      res.writeHead(a.status, { 'content-type': 'application/json' })
      res.end(a.body === undefined ? '' : JSON.stringify(a.body))
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  realm = `http://127.0.0.1:${(server.address() as AddressInfo).port}/auth/token`
})

afterAll(async () => {
  await agent.close()
  server.close()
})

beforeEach(() => {
  seen = []
  answer = () => ({ status: 200, body: { token: `t${seen.length}`, expires_in: 300 } })
})

describe('TokenClient', () => {
  it('asks the realm with service, every scope and basic credentials, and keeps the token', async () => {
    const client = new TokenClient({ dispatcher: agent, credentials: { username: 'u', password: 'p' } })
    const challenge = { realm, service: 'reg' }
    const scopes = ['repository:a/b:pull', 'repository:c/d:pull']
    expect(await client.token(challenge, scopes)).toBe('t1')
    expect(await client.token(challenge, scopes)).toBe('t1')
    expect(client.cached(challenge, scopes)).toBe('t1')
    expect(seen).toHaveLength(1)
    expect(seen[0]!.url.searchParams.get('service')).toBe('reg')
    expect(seen[0]!.url.searchParams.getAll('scope')).toEqual(scopes)
    expect(seen[0]!.authorization).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`)
  })

  it('asks once for concurrent callers of the same scopes', async () => {
    const client = new TokenClient({ dispatcher: agent })
    const tokens = await Promise.all([1, 2, 3].map(() => client.token({ realm }, ['repository:a/b:pull'])))
    expect(tokens).toEqual(['t1', 't1', 't1'])
    expect(seen).toHaveLength(1)
    expect(seen[0]!.authorization).toBeUndefined()
  })

  it('asks again once the token is within the margin of its expiry', async () => {
    // lru-cache takes a start time of 0 for "no ttl": the clock starts later
    let now = 1_000
    const client = new TokenClient({ dispatcher: agent, now: () => now })
    answer = () => ({ status: 200, body: { access_token: `t${seen.length}`, expires_in: 60 } })
    expect(await client.token({ realm }, ['s'])).toBe('t1')
    now = 50_000
    expect(await client.token({ realm }, ['s'])).toBe('t1')
    now = 52_000
    expect(client.cached({ realm }, ['s'])).toBeUndefined()
    expect(await client.token({ realm }, ['s'])).toBe('t2')
  })

  it('posts a refresh token as a form, never in the URL', async () => {
    const client = new TokenClient({ dispatcher: agent, credentials: { refreshToken: 'r1' } })
    await client.token({ realm, service: 'reg' }, ['repository:a/b:pull,push'])
    expect(seen[0]!.method).toBe('POST')
    expect(seen[0]!.url.search).toBe('')
    const form = new URLSearchParams(seen[0]!.body)
    expect(form.get('grant_type')).toBe('refresh_token')
    expect(form.get('refresh_token')).toBe('r1')
    expect(form.get('service')).toBe('reg')
    expect(form.get('scope')).toBe('repository:a/b:pull,push')
  })

  it('fails with stable codes: denied, no token, unusable realm, unreachable', async () => {
    const client = new TokenClient({ dispatcher: agent })
    answer = () => ({ status: 401, body: {} })
    await expect(client.token({ realm }, ['s'])).rejects.toMatchObject({ code: 'TOKEN_DENIED', status: 401 })
    answer = () => ({ status: 200, body: {} })
    await expect(client.token({ realm }, ['s'])).rejects.toMatchObject({ code: 'TOKEN_INVALID', status: 200 })
    await expect(client.token({ realm: 'ftp://x/' }, ['s'])).rejects.toMatchObject({ code: 'TOKEN_REALM_INVALID' })
    await expect(client.token({ realm: 'http://127.0.0.1:1/t' }, ['s'])).rejects.toBeInstanceOf(TokenError)
    await expect(client.token({ realm: 'http://127.0.0.1:1/t' }, ['s'])).rejects.toMatchObject({
      code: 'TOKEN_UNAVAILABLE',
    })
    // a failure is not kept: the next ask goes to the realm again
    answer = () => ({ status: 200, body: { token: 'ok' } })
    expect(await client.token({ realm }, ['s'])).toBe('ok')
  })
})
