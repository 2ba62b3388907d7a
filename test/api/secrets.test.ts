import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiClient, createOrg, createUser, pushImage, type ApiClient } from '../helpers/api.ts'
import { getToken } from '../helpers/auth.ts'
import { PAT_PREFIX } from '../../origin/services/auth.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'

const logLines: Record<string, unknown>[] = []
let origin: Awaited<ReturnType<typeof startOrigin>>
let api: ApiClient

beforeAll(async () => {
  origin = await startOrigin({ logLines })
  api = apiClient(origin.url)
})
afterAll(async () => {
  await origin?.close()
})

/** Every stored event, as the database holds it. */
function eventsTable(): string {
  return JSON.stringify(origin.deps.db.prepare('SELECT * FROM events').all())
}

describe('secrets', () => {
  it('appear only in the response that creates them: never in the events table or the logs', async () => {
    const secrets: string[] = []
    const alice = await createUser(api, TEST_ADMIN, 'alice')
    secrets.push(alice.password)
    await createOrg(api, TEST_ADMIN, 'acme', 'alice')

    const generated = await api.call('POST', '/accounts', TEST_ADMIN, { name: 'gen' })
    secrets.push(generated.body.password)

    const pat = await api.call('POST', '/accounts/alice/tokens', alice, { name: 'ci' })
    secrets.push(pat.body.token)
    const robot = await api.call('POST', '/namespaces/acme/robots', alice, {
      name: 'ci',
      permissions: [{ repository: 'acme/*', actions: ['pull', 'push'] }],
    })
    secrets.push(robot.body.secret)
    expect(secrets.every((s) => typeof s === 'string' && s.length >= 16)).toBe(true)

    // use every one of them, the way clients do, rightly and wrongly
    expect((await api.call('GET', '/me', { username: 'gen', password: generated.body.password })).status).toBe(200)
    expect((await api.call('GET', '/me', { username: 'alice', password: pat.body.token })).status).toBe(200)
    expect((await api.call('GET', '/me', { username: 'bob', password: pat.body.token })).status).toBe(401)
    // a token does not start a web session: a session may mint credentials, a token may not
    expect((await api.call('POST', '/login', undefined, { username: 'alice', password: pat.body.token })).status).toBe(
      403,
    )
    expect(
      (
        await getToken(origin.url, ['repository:acme/app:pull,push'], {
          username: robot.body.name,
          password: robot.body.secret,
        })
      ).status,
    ).toBe(200)
    expect(
      (await getToken(origin.url, [], { username: robot.body.name, password: `${robot.body.secret}x` })).status,
    ).toBe(401)
    expect((await pushImage(origin.url, 'alice/app', { username: 'alice', password: pat.body.token })).status).toBe(201)
    const change = await api.call('PATCH', '/accounts/alice', alice, {
      password: 'another-secret-pw',
      currentPassword: alice.password,
    })
    expect(change.status).toBe(200)
    secrets.push('another-secret-pw')
    expect((await api.call('DELETE', `/accounts/alice/tokens/${pat.body.id}`, TEST_ADMIN)).status).toBe(204)

    // the events exist (so the check below looks at real rows) and name what happened
    const table = eventsTable()
    for (const action of [
      'token.create',
      'token.revoke',
      'robot.create',
      'account.create',
      'account.update',
      'login',
      'push',
      'token.issue',
    ]) {
      expect(table, action).toContain(`"${action}"`)
    }
    expect(logLines.length).toBeGreaterThan(10)
    const logs = JSON.stringify(logLines)
    for (const secret of secrets) {
      expect(table).not.toContain(secret)
      expect(logs).not.toContain(secret)
    }
    // nor the part of a personal access token after its public id (the secret is base64url, so it may hold `_`
    // itself: what follows the id's `_` is the secret, whole)
    const secretPart = (pat.body.token as string).slice(`${PAT_PREFIX}${pat.body.id}_`.length)
    expect(secretPart.length).toBeGreaterThanOrEqual(16)
    expect(table).not.toContain(secretPart)
    expect(logs).not.toContain(secretPart)
  })

  it('are stored only as hashes', async () => {
    const pat = await api.call('POST', '/accounts/gen/tokens', TEST_ADMIN, { name: 'db-check' })
    const all = JSON.stringify([
      origin.deps.db.prepare('SELECT * FROM access_tokens').all(),
      origin.deps.db.prepare('SELECT * FROM robots').all(),
      origin.deps.db.prepare('SELECT * FROM accounts').all(),
    ])
    expect(all).toContain(pat.body.id)
    expect(all).not.toContain(pat.body.token)
    expect(all).not.toContain(TEST_ADMIN.password)
  })
})
