import { createHash, randomBytes } from 'node:crypto'
import { SignJWT, generateKeyPair } from 'jose'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TokenService } from '../../origin/services/tokens.ts'
import { hashPassword } from '../../origin/services/passwords.ts'
import { getToken, tokenFor, decodeAccess, type Credentials } from '../helpers/auth.ts'
import { startOrigin, TEST_ADMIN, type RunningOrigin } from '../helpers/start-origin.ts'
import type { OriginDeps } from '../../origin/deps.ts'

const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json'

type Origin = RunningOrigin & { deps: OriginDeps }
let origin: Origin
const users: Record<string, Credentials> = {}
let robot: Credentials
let bobPat: string
const layer = randomBytes(1024)
const layerDigest = `sha256:${createHash('sha256').update(layer).digest('hex')}`
const configBlob = Buffer.from('{"architecture":"amd64","os":"linux"}')
const configDigest = `sha256:${createHash('sha256').update(configBlob).digest('hex')}`
const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST_TYPE,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: configBlob.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
  }),
)

async function call(method: string, path: string, token: string | undefined, body?: Buffer, headers: Record<string, string> = {}) {
  const res = await request(`${origin.url}${path}`, {
    method: method as 'GET',
    body,
    headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
  })
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, text }
}

async function pushImage(repo: string, token: string, tag = 'v1'): Promise<number> {
  for (const [blob, digest] of [
    [layer, layerDigest],
    [configBlob, configDigest],
  ] as const) {
    const r = await call('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, token, blob)
    if (r.status !== 201) return r.status
  }
  const r = await call('PUT', `/v2/${repo}/manifests/${tag}`, token, manifest, { 'content-type': MANIFEST_TYPE })
  return r.status
}

async function user(name: string, opts: { admin?: boolean } = {}) {
  const password = `${name}-password-1`
  const { accounts } = origin.deps.identity
  accounts.insert({ name, kind: 'user', passwordHash: await hashPassword(password), isAdmin: opts.admin, now: Date.now() })
  users[name] = { username: name, password }
  return accounts.byName(name)!
}

beforeAll(async () => {
  origin = await startOrigin()
  const { accounts, accessStore, auth } = origin.deps.identity
  const now = Date.now()
  const alice = await user('alice')
  const bob = await user('bob')
  const carol = await user('carol')
  const dave = await user('dave')
  await user('eve')
  const acme = accounts.insert({ name: 'acme', kind: 'org', now })
  accounts.setMember(acme.id, alice.id, true)
  const devs = accounts.insertTeam(acme.id, 'devs', '', null, now)
  const readers = accounts.insertTeam(acme.id, 'readers', '', null, now)
  const admins = accounts.insertTeam(acme.id, 'admins', '', null, now)
  accounts.addTeamMember(devs, bob.id)
  accounts.addTeamMember(readers, carol.id)
  accounts.addTeamMember(admins, dave.id)
  const grant = (subjectId: number, scopeType: 'namespace' | 'repository', scopeName: string, role: 'read' | 'write' | 'admin') =>
    accessStore.setGrant({ subjectType: 'team', subjectId, scopeType, scopeName, role, createdAt: now, createdBy: 'test' })
  grant(devs.id, 'repository', 'acme/app', 'write')
  grant(readers.id, 'namespace', 'acme', 'read')
  grant(admins.id, 'repository', 'acme/app', 'admin')

  const adminToken = await tokenFor(origin.url, ['repository:acme/app:pull,push', 'repository:acme/public:pull,push', 'repository:alice/private:pull,push'], TEST_ADMIN)
  for (const repo of ['acme/app', 'acme/public', 'alice/private']) expect(await pushImage(repo, adminToken)).toBe(201)
  origin.deps.meta.updateRepository('acme/public', 'public', '', '')

  const r = auth.createRobot({
    namespace: 'acme',
    name: 'ci',
    description: '',
    permissions: [{ repository: 'acme/app', actions: ['pull', 'push'] }],
    createdBy: 'admin',
    expiresAt: null,
  })
  robot = { username: r.name, password: r.secret }
  bobPat = auth.createPersonalToken(bob.id, 'ci', null).token
})

afterAll(async () => {
  await origin?.close()
})

type Op = 'pull' | 'push' | 'delete'
const ALL: Op[] = ['pull', 'push', 'delete']

/** What each caller may do, repository by repository; anything not listed must be refused. */
const MATRIX: Record<string, Record<string, Op[]>> = {
  admin: { 'acme/app': ALL, 'acme/public': ALL, 'alice/private': ALL },
  alice: { 'acme/app': ALL, 'acme/public': ALL, 'alice/private': ALL },
  bob: { 'acme/app': ['pull', 'push'], 'acme/public': ['pull'] },
  carol: { 'acme/app': ['pull'], 'acme/public': ['pull'] },
  dave: { 'acme/app': ALL, 'acme/public': ['pull'] },
  eve: { 'acme/public': ['pull'] },
  anonymous: { 'acme/public': ['pull'] },
  robot: { 'acme/app': ['pull', 'push'] },
  bobPat: { 'acme/app': ['pull', 'push'], 'acme/public': ['pull'] },
}

function credsOf(who: string): Credentials | undefined {
  if (who === 'admin') return TEST_ADMIN
  if (who === 'anonymous') return undefined
  if (who === 'robot') return robot
  if (who === 'bobPat') return { username: 'bob', password: bobPat }
  return users[who]
}

describe('the permission matrix through tokens and /v2/', () => {
  for (const [who, allowed] of Object.entries(MATRIX)) {
    for (const repo of ['acme/app', 'acme/public', 'alice/private']) {
      const expected = allowed[repo] ?? []
      it(`${who} on ${repo}: ${expected.join(',') || 'nothing'}`, async () => {
        const creds = credsOf(who)
        const res = await getToken(origin.url, [`repository:${repo}:pull,push,delete`], creds)
        expect(res.status).toBe(200)
        const token = res.body.token as string
        const granted = decodeAccess(token).find((a) => a.name === repo)?.actions ?? []
        expect([...granted].sort()).toEqual([...expected].sort())

        const pull = await call('GET', `/v2/${repo}/manifests/v1`, token, undefined, { accept: MANIFEST_TYPE })
        expect(pull.status).toBe(expected.includes('pull') ? 200 : 401)
        const blob = await call('GET', `/v2/${repo}/blobs/${layerDigest}`, token)
        expect(blob.status).toBe(expected.includes('pull') ? 200 : 401)
        if (!expected.includes('pull')) expect(blob.text).not.toContain(layer.toString('latin1').slice(0, 16))

        const push = await call('POST', `/v2/${repo}/blobs/uploads/`, token)
        expect(push.status).toBe(expected.includes('push') ? 202 : 401)
        if (push.status === 401) {
          expect(push.headers['www-authenticate']).toContain('error="insufficient_scope"')
          expect(JSON.parse(push.text).errors[0].code).toBe('UNAUTHORIZED')
        }

        // delete a tag that does not exist: allowed callers get 404, refused ones 401
        const del = await call('DELETE', `/v2/${repo}/manifests/nope`, token)
        expect(del.status).toBe(expected.includes('delete') ? 404 : 401)
      })
    }
  }

  it('gives the catalog to admins only', async () => {
    const admin = await tokenFor(origin.url, ['registry:catalog:*'], TEST_ADMIN)
    const ok = await call('GET', '/v2/_catalog', admin)
    expect(ok.status).toBe(200)
    expect(JSON.parse(ok.text).repositories).toEqual(['acme/app', 'acme/public', 'alice/private'])
    for (const who of ['alice', 'eve', 'anonymous', 'robot']) {
      const t = await tokenFor(origin.url, ['registry:catalog:*'], credsOf(who))
      expect(decodeAccess(t)).toEqual([])
      expect((await call('GET', '/v2/_catalog', t)).status).toBe(401)
    }
  })
})

describe('credentials that must not work', () => {
  it('refuses a wrong password, an unknown user and an empty password with 401', async () => {
    for (const creds of [
      { username: 'bob', password: 'wrong' },
      { username: 'nobody', password: 'whatever-1' },
      { username: 'bob', password: '' },
    ]) {
      const res = await getToken(origin.url, ['repository:acme/app:pull'], creds)
      expect(res.status).toBe(401)
      expect(res.body.token).toBeUndefined()
    }
  })

  it('refuses revoked and expired personal access tokens', async () => {
    const { auth, accessStore, accounts } = origin.deps.identity
    const carol = accounts.byName('carol')!
    const revoked = auth.createPersonalToken(carol.id, 'old', null)
    accessStore.revokeToken(revoked.id, Date.now())
    const expired = auth.createPersonalToken(carol.id, 'short', Date.now() - 1000)
    for (const password of [revoked.token, expired.token]) {
      expect((await getToken(origin.url, ['repository:acme/app:pull'], { username: 'carol', password })).status).toBe(401)
    }
    // and a valid one of carol's is not bob's
    const valid = auth.createPersonalToken(carol.id, 'ok', null)
    expect((await getToken(origin.url, [], { username: 'bob', password: valid.token })).status).toBe(401)
    expect((await getToken(origin.url, [], { username: 'carol', password: valid.token })).status).toBe(200)
  })

  it('refuses a deactivated user', async () => {
    const { accounts, auth } = origin.deps.identity
    await user('frank')
    expect((await getToken(origin.url, [], users.frank)).status).toBe(200)
    const frank = accounts.byName('frank')!
    accounts.update({ ...frank, active: false }, Date.now())
    auth.forgetCredentials()
    expect((await getToken(origin.url, [], users.frank)).status).toBe(401)
  })

  it('refuses forged, tampered, expired and foreign-repository tokens on /v2/', async () => {
    const { tokens, keys, permissions } = origin.deps.identity
    const good = await tokenFor(origin.url, ['repository:acme/app:pull'], TEST_ADMIN)
    expect((await call('GET', `/v2/acme/app/manifests/v1`, good, undefined, { accept: MANIFEST_TYPE })).status).toBe(200)

    const { privateKey } = await generateKeyPair('ES256')
    const claims = JSON.parse(Buffer.from(good.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>
    const header = JSON.parse(Buffer.from(good.split('.')[0]!, 'base64url').toString()) as { kid: string }
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: header.kid, typ: 'JWT' }).sign(privateKey)

    const widened = { ...claims, access: [{ type: 'repository', name: 'alice/private', actions: ['pull'] }] }
    const [h, , s] = good.split('.')
    const tampered = `${h}.${Buffer.from(JSON.stringify(widened)).toString('base64url')}.${s}`

    const past = new TokenService({ keys, permissions, events: origin.deps.identity.events, issuer: tokens.issuer, service: tokens.service, ttlSeconds: 60, now: () => Date.now() - 3_600_000 })
    const expired = (await past.issue({ kind: 'user', name: 'admin', id: 1, isAdmin: true }, [{ type: 'repository', name: 'acme/app', actions: ['pull'] }])).token

    const otherAudience = new TokenService({ keys, permissions, events: origin.deps.identity.events, issuer: tokens.issuer, service: 'elsewhere', ttlSeconds: 60, now: Date.now })
    const foreignAud = (await otherAudience.issue({ kind: 'user', name: 'admin', id: 1, isAdmin: true }, [{ type: 'repository', name: 'acme/app', actions: ['pull'] }])).token

    const otherRepo = await tokenFor(origin.url, ['repository:acme/public:pull'], TEST_ADMIN)

    for (const [name, token, error] of [
      ['forged', forged, 'invalid_token'],
      ['tampered', tampered, 'invalid_token'],
      ['expired', expired, 'invalid_token'],
      ['wrong audience', foreignAud, 'invalid_token'],
      ['other repository', otherRepo, 'insufficient_scope'],
    ] as const) {
      const r = await call('GET', `/v2/acme/app/manifests/v1`, token, undefined, { accept: MANIFEST_TYPE })
      expect(r.status, name).toBe(401)
      expect(r.headers['www-authenticate'], name).toContain(`error="${error}"`)
      const b = await call('GET', `/v2/alice/private/blobs/${layerDigest}`, token)
      expect(b.status, name).toBe(401)
    }
  })
})
