import { afterAll, beforeAll, expect, it } from 'vitest'
import type { OriginDeps } from '../../origin/deps.ts'
import { describeWithSlapd, startSlapd, type Slapd } from '../helpers/slapd.ts'
import { startOrigin, TEST_ADMIN, type RunningOrigin } from '../helpers/start-origin.ts'
import { api, configure, settingsFor } from './fixtures.ts'

describeWithSlapd('/api/v0/meta/ldap: settings, test connection, sync now, schedule', () => {
  let slapd: Slapd
  let origin: RunningOrigin & { deps: OriginDeps }

  beforeAll(async () => {
    slapd = await startSlapd()
    // the schedule is started by hand below, to see it start and stop
    origin = await startOrigin({ timers: false })
  })
  afterAll(async () => {
    await origin?.close()
    await slapd?.stop()
  })

  it('starts disabled, and refuses "sync now" while disabled', async () => {
    const r = await api(origin.url, 'GET', '/meta/ldap')
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({
      enabled: false,
      bindPasswordSet: false,
      userFilter: '(objectClass=inetOrgPerson)',
      syncSchedule: '0 * * * *',
    })
    const sync = await api(origin.url, 'POST', '/meta/ldap/sync')
    expect(sync.status).toBe(409)
    expect(sync.body).toMatchObject({ error: { code: 'CONFLICT' } })
  })

  it('never returns the bind password, and keeps it when a PUT leaves it out', async () => {
    const put = await api(origin.url, 'PUT', '/meta/ldap', settingsFor(slapd))
    expect(put.status).toBe(200)
    expect(put.body.bindPassword).toBeUndefined()
    expect(put.body.bindPasswordSet).toBe(true)
    expect(JSON.stringify(put.body)).not.toContain(slapd.readerPassword)

    const changed = await api(origin.url, 'PUT', '/meta/ldap', { userFilter: '(&(objectClass=inetOrgPerson)(mail=*))' })
    expect(changed.status).toBe(200)
    const get = await api(origin.url, 'GET', '/meta/ldap')
    expect(get.body).toMatchObject({
      enabled: true,
      bindPasswordSet: true,
      userFilter: '(&(objectClass=inetOrgPerson)(mail=*))',
      url: slapd.url,
    })
    expect(JSON.stringify(get.body)).not.toContain(slapd.readerPassword)
    // the stored password still works
    expect((await api(origin.url, 'POST', '/meta/ldap/test')).body).toMatchObject({ ok: true })
  })

  it('rejects bad settings with every problem named, and stores none of them', async () => {
    const r = await api(origin.url, 'PUT', '/meta/ldap', {
      url: 'http://ldap.example.org',
      userFilter: 'objectClass=person',
      usernameAttribute: 'u id',
      syncSchedule: 'every hour',
      bindPassword: '',
      surprise: 1,
    })
    expect(r.status).toBe(400)
    const message = (r.body.error as { message: string }).message
    expect(message).toContain('unknown field surprise; expected url, tlsCaPem')
    const r2 = await api(origin.url, 'PUT', '/meta/ldap', {
      url: 'http://ldap.example.org',
      userFilter: 'objectClass=person',
      usernameAttribute: 'u id',
      syncSchedule: 'every hour',
      bindPassword: '',
    })
    expect(r2.status).toBe(400)
    const problems = (r2.body.error as { detail: { problems: string[] } }).detail.problems
    expect(problems.join('\n')).toMatch(/url must start with ldap:\/\/ or ldaps:\/\//)
    expect(problems.join('\n')).toMatch(/userFilter: .*parentheses/)
    expect(problems.join('\n')).toMatch(/usernameAttribute/)
    expect(problems.join('\n')).toMatch(/syncSchedule/)
    expect(problems.join('\n')).toMatch(/bindPassword is required with a bindDn/)
    expect((await api(origin.url, 'GET', '/meta/ldap')).body).toMatchObject({ url: slapd.url, bindPasswordSet: true })
  })

  it('is for administrators only', async () => {
    expect((await api(origin.url, 'GET', '/meta/ldap', undefined, null)).status).toBe(401)
    expect((await api(origin.url, 'PUT', '/meta/ldap', { enabled: false }, null)).status).toBe(401)
    // bob is a directory user, not an administrator
    expect(
      (await api(origin.url, 'GET', '/meta/ldap', undefined, { username: 'bob', password: 'bob-password' })).status,
    ).toBe(403)
    expect(
      (await api(origin.url, 'POST', '/meta/ldap/sync', undefined, { username: 'bob', password: 'bob-password' }))
        .status,
    ).toBe(403)
    expect(
      (await api(origin.url, 'GET', '/meta/ldap', undefined, { ...TEST_ADMIN, password: 'wrong-password' })).status,
    ).toBe(401)
  })

  it('tests the connection: users found and a sample when it works', async () => {
    await configure(origin.url, { userFilter: '(objectClass=inetOrgPerson)' })
    const r = await api(origin.url, 'POST', '/meta/ldap/test')
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ ok: true, usersFound: 3, groupsFound: 3 })
    expect(r.body.sample).toEqual(expect.arrayContaining(['alice', 'bob', 'carol']))
    expect(r.body.error).toBeUndefined()
  })

  it('reports a failing connection as ok:false with the reason, in a 200, without saving what it tried', async () => {
    const wrongPassword = await api(origin.url, 'POST', '/meta/ldap/test', { bindPassword: 'not-the-reader-password' })
    expect(wrongPassword.status).toBe(200)
    expect(wrongPassword.body).toMatchObject({ ok: false, usersFound: 0 })
    expect(wrongPassword.body.error).toBe(`bind as ${slapd.readerDn}: invalid credentials`)

    const wrongBase = await api(origin.url, 'POST', '/meta/ldap/test', { userBaseDn: 'ou=nowhere,dc=wharf,dc=test' })
    expect(wrongBase.body).toMatchObject({ ok: false })
    expect(wrongBase.body.error).toMatch(/^user search under ou=nowhere,dc=wharf,dc=test: no such entry/)

    const closed = await api(origin.url, 'POST', '/meta/ldap/test', { url: 'ldap://127.0.0.1:1' })
    expect(closed.body).toMatchObject({ ok: false })
    expect(closed.body.error).toMatch(/ECONNREFUSED/)

    const invalid = await api(origin.url, 'POST', '/meta/ldap/test', { userFilter: 'nonsense' })
    expect(invalid.status).toBe(200)
    expect(invalid.body).toMatchObject({ ok: false })

    expect((await api(origin.url, 'POST', '/meta/ldap/test')).body).toMatchObject({ ok: true })
  })

  it('syncs on the cron schedule once started, and stops with stop()', async () => {
    const ldap = origin.deps.identity.ldap
    const scheduled = () =>
      origin.deps.identity.events.list({ action: 'ldap.sync', actor: 'schedule', limit: 100 }).length
    await configure(origin.url, { syncSchedule: '* * * * * *' })
    expect(scheduled()).toBe(0)
    ldap.start()
    try {
      const deadline = Date.now() + 5000
      while (scheduled() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
      expect(scheduled()).toBeGreaterThan(0)
      expect(origin.deps.identity.accounts.byName('carol')).toMatchObject({ source: 'ldap', active: true })
    } finally {
      await ldap.stop()
    }
    const after = scheduled()
    await new Promise((r) => setTimeout(r, 1500))
    expect(scheduled()).toBe(after)
  })
})
