import { afterAll, beforeAll, expect, it } from 'vitest'
import type { OriginDeps } from '../../origin/deps.ts'
import { hashPassword } from '../../origin/services/passwords.ts'
import { describeWithSlapd, startSlapd, userDn, groupDn, type Slapd } from '../helpers/slapd.ts'
import { startOrigin, type RunningOrigin } from '../helpers/start-origin.ts'
import { api, configure, loginStatus, settingsFor } from './fixtures.ts'

describeWithSlapd('LDAP login through /auth/token', () => {
  let slapd: Slapd
  let origin: RunningOrigin & { deps: OriginDeps }

  beforeAll(async () => {
    slapd = await startSlapd()
    origin = await startOrigin()
    await configure(origin.url, settingsFor(slapd, { adminGroupDn: groupDn('admins') }))
  })
  afterAll(async () => {
    await origin?.close()
    await slapd?.stop()
  })

  it('creates the account on the first login, from the directory entry', async () => {
    expect(origin.deps.identity.accounts.byName('alice')).toBeUndefined()
    expect(await loginStatus(origin.url, 'alice', 'alice-password')).toBe(200)
    const alice = origin.deps.identity.accounts.byName('alice')
    expect(alice).toMatchObject({
      kind: 'user',
      source: 'ldap',
      ldapDn: userDn('alice'),
      fullName: 'Alice Liddell',
      email: 'alice@wharf.test',
      passwordHash: null,
      active: true,
    })
    // a second login reuses it, whatever the spelling of the name
    expect(await loginStatus(origin.url, 'ALICE', 'alice-password')).toBe(200)
    expect(
      origin.deps.identity.accounts
        .page('user', '', 100)
        .filter((a) => a.source === 'ldap')
        .map((a) => a.name),
    ).toEqual(['alice'])
  })

  it('refuses a wrong password and an unknown user, and creates no account for them', async () => {
    expect(await loginStatus(origin.url, 'bob', 'not-bobs-password')).toBe(401)
    expect(await loginStatus(origin.url, 'mallory', 'whatever-password')).toBe(401)
    expect(origin.deps.identity.accounts.byName('bob')).toBeUndefined()
    expect(origin.deps.identity.accounts.byName('mallory')).toBeUndefined()
    // the wrong password did reach slapd as a bind as bob: the check below is not blind
    expect(slapd.binds()).toContain(userDn('bob'))
  })

  it('refuses an empty password before any bind, although this slapd would take it as an anonymous bind', async () => {
    const before = slapd.binds().length
    expect(await loginStatus(origin.url, 'carol', '')).toBe(401)
    expect(await loginStatus(origin.url, userDn('carol'), '')).toBe(401)
    // the directory refuses it on its own too, not only because the token endpoint does
    expect(await origin.deps.identity.ldap.authenticate('carol', '')).toBeUndefined()
    expect(slapd.binds().slice(before)).not.toContain(userDn('carol'))
    expect(origin.deps.identity.accounts.byName('carol')).toBeUndefined()
    expect(await origin.deps.identity.ldap.authenticate('carol', 'carol-password')).toMatchObject({
      dn: userDn('carol'),
      username: 'carol',
    })
  })

  it('escapes the name in the search filter: a wildcard does not find alice', async () => {
    expect(await loginStatus(origin.url, 'al*', 'alice-password')).toBe(401)
    expect(await loginStatus(origin.url, '*', 'alice-password')).toBe(401)
    expect(await loginStatus(origin.url, 'x)(uid=alice', 'alice-password')).toBe(401)
  })

  it('makes members of the admin group administrators at login, and nobody else', async () => {
    expect(
      (await api(origin.url, 'GET', '/meta/ldap', undefined, { username: 'alice', password: 'alice-password' })).status,
    ).toBe(200)
    expect(origin.deps.identity.accounts.byName('alice')?.isAdmin).toBe(true)
    expect(
      (await api(origin.url, 'GET', '/meta/ldap', undefined, { username: 'bob', password: 'bob-password' })).status,
    ).toBe(403)
    expect(origin.deps.identity.accounts.byName('bob')?.isAdmin).toBe(false)

    // alice leaves the admin group: her next (uncached) login takes the flag away
    await slapd.removeFromGroup('admins', userDn('alice'))
    origin.deps.identity.auth.forgetCredentials()
    expect(
      (await api(origin.url, 'GET', '/meta/ldap', undefined, { username: 'alice', password: 'alice-password' })).status,
    ).toBe(403)
    expect(origin.deps.identity.accounts.byName('alice')?.isAdmin).toBe(false)
  })

  it('leaves local accounts to their local password, and never lets the directory claim their name', async () => {
    origin.deps.identity.accounts.insert({
      name: 'carol',
      kind: 'user',
      passwordHash: await hashPassword('local-carol-password'),
      now: Date.now(),
    })
    expect(await loginStatus(origin.url, 'carol', 'carol-password')).toBe(401)
    expect(await loginStatus(origin.url, 'CAROL', 'carol-password')).toBe(401)
    expect(await loginStatus(origin.url, 'carol', 'local-carol-password')).toBe(200)
    expect(origin.deps.identity.accounts.byName('carol')).toMatchObject({ source: 'local', ldapDn: null })
  })

  it('lets nobody in through the directory while LDAP is disabled', async () => {
    await configure(origin.url, { enabled: false })
    origin.deps.identity.auth.forgetCredentials()
    expect(await loginStatus(origin.url, 'bob', 'bob-password')).toBe(401)
    await configure(origin.url, { enabled: true })
    expect(await loginStatus(origin.url, 'bob', 'bob-password')).toBe(200)
  })
})
