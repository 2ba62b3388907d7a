/**
 * Password guessing is limited as attempts start, not as they finish: hundreds of parallel guesses for one user
 * are refused before their hash is computed, the counters survive a restart, and a flood from one address does
 * not lock the user out of another address.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { afterAll, describe, expect, it } from 'vitest'
import { apiClient, createUser } from '../helpers/api.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'

const dirs: string[] = []
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
})

/** A client whose connections come from `address` (any of 127.0.0.0/8 reaches a loopback server). */
function clientFrom(address: string) {
  const agent = new Agent({ localAddress: address, connections: 256 })
  return {
    async token(baseUrl: string, username: string, password: string): Promise<number> {
      const res = await request(`${baseUrl}/auth/token?service=${new URL(baseUrl).host}`, {
        dispatcher: agent,
        headers: { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` },
      })
      await res.body.dump()
      return res.statusCode
    },
    close: () => agent.close(),
  }
}

describe('login limits', () => {
  it('200 parallel wrong guesses for one user: 10 are checked, the rest are refused unchecked; the user still signs in from elsewhere', async () => {
    const origin = await startOrigin()
    const attacker = clientFrom('127.0.0.1')
    const colleague = clientFrom('127.0.0.2')
    try {
      await createUser(apiClient(origin.url), TEST_ADMIN, 'victim')
      const statuses = await Promise.all(
        Array.from({ length: 200 }, (_, i) => attacker.token(origin.url, 'victim', `guess-number-${i}`)),
      )
      const checked = statuses.filter((s) => s === 401).length
      expect(checked).toBe(10)
      expect(statuses.filter((s) => s === 429).length).toBe(190)
      const failures = origin.deps.identity.events
        .list({ action: 'login', limit: 1000 })
        .filter((e) => e.target === 'victim' && e.outcome === 'failure')
      expect(failures.filter((e) => e.detail?.reason === 'invalid_credentials')).toHaveLength(10)
      expect(failures.filter((e) => e.detail?.reason === 'rate_limited')).toHaveLength(190)
      // the right password from the attacking address waits too
      expect(await attacker.token(origin.url, 'victim', 'victim-password-1')).toBe(429)
      // ... but from another address it works
      expect(await colleague.token(origin.url, 'victim', 'victim-password-1')).toBe(200)
      const last = origin.deps.identity.events.list({ action: 'login', limit: 1 })[0]
      expect(last).toMatchObject({ address: '127.0.0.2', outcome: 'success' })
    } finally {
      await attacker.close()
      await colleague.close()
      await origin.close()
    }
  })

  it('one address walking through many users is stopped at 50 attempts, in parallel too', async () => {
    const origin = await startOrigin()
    const attacker = clientFrom('127.0.0.3')
    try {
      const statuses = await Promise.all(
        Array.from({ length: 120 }, (_, i) => attacker.token(origin.url, `user-${i}`, 'a-common-password')),
      )
      expect(statuses.filter((s) => s === 401).length).toBe(50)
      expect(statuses.filter((s) => s === 429).length).toBe(70)
    } finally {
      await attacker.close()
      await origin.close()
    }
  })

  it('a burst of the same right login costs one attempt, so a CI fleet behind one address is not refused', async () => {
    const origin = await startOrigin()
    const fleet = clientFrom('127.0.0.4')
    try {
      const statuses = await Promise.all(
        Array.from({ length: 100 }, () => fleet.token(origin.url, TEST_ADMIN.username, TEST_ADMIN.password)),
      )
      expect(statuses.every((s) => s === 200)).toBe(true)
    } finally {
      await fleet.close()
      await origin.close()
    }
  })

  it('keeps its counters across a restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'wharf-limits-'))
    dirs.push(dataDir)
    const client = clientFrom('127.0.0.5')
    try {
      const first = await startOrigin({ dataDir })
      for (let i = 0; i < 10; i++) expect(await client.token(first.url, 'admin', `wrong-${i}`)).toBe(401)
      expect(await client.token(first.url, 'admin', 'wrong-again')).toBe(429)
      await first.close()
      const second = await startOrigin({ dataDir })
      try {
        expect(await client.token(second.url, 'admin', TEST_ADMIN.password)).toBe(429)
      } finally {
        await second.close()
      }
    } finally {
      await client.close()
    }
  })
})
