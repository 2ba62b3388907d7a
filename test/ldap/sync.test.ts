import { afterAll, beforeAll, expect, it } from 'vitest'
import type { OriginDeps } from '../../origin/deps.ts'
import { systemActor } from '../../origin/services/events.ts'
import type { Team } from '../../origin/storage/accounts-store.ts'
import { describeWithSlapd, groupDn, startSlapd, userDn, type Slapd } from '../helpers/slapd.ts'
import { startOrigin, type RunningOrigin } from '../helpers/start-origin.ts'
import { api, configure, loginStatus, settingsFor, syncNow } from './fixtures.ts'

describeWithSlapd('LDAP sync: accounts, group → team mappings, removal and the empty-search guard', () => {
  let slapd: Slapd
  let origin: RunningOrigin & { deps: OriginDeps }
  let devs: Team
  let ops: Team
  const id = () => origin.deps.identity
  const members = (team: Team) => id().accounts.teamMembers(team.id)
  const account = (name: string) => id().accounts.byName(name)

  beforeAll(async () => {
    slapd = await startSlapd()
    origin = await startOrigin()
    await configure(origin.url, settingsFor(slapd, { adminGroupDn: groupDn('admins') }))
    const acme = id().accounts.insert({ name: 'acme', kind: 'org', now: Date.now() })
    devs = id().accounts.insertTeam(acme.id, 'devs', 'developers', null, Date.now())
    ops = id().accounts.insertTeam(acme.id, 'ops', 'operations', null, Date.now())
    for (const [team, group] of [
      ['devs', 'devs'],
      ['ops', 'ops'],
    ] as const) {
      const r = await api(origin.url, 'PUT', `/meta/ldap/team-mappings/acme/${team}`, { group: groupDn(group) })
      expect(r.status).toBe(200)
    }
  })
  afterAll(async () => {
    await origin?.close()
    await slapd?.stop()
  })

  it('maps teams to groups through the API, under groupBaseDn only', async () => {
    const list = await api(origin.url, 'GET', '/meta/ldap/team-mappings')
    expect(list.body.mappings).toEqual([
      { org: 'acme', team: 'devs', group: groupDn('devs') },
      { org: 'acme', team: 'ops', group: groupDn('ops') },
    ])
    expect(
      (await api(origin.url, 'PUT', '/meta/ldap/team-mappings/acme/devs', { group: 'cn=devs,dc=elsewhere,dc=test' }))
        .status,
    ).toBe(400)
    expect(
      (await api(origin.url, 'PUT', '/meta/ldap/team-mappings/acme/nope', { group: groupDn('devs') })).status,
    ).toBe(404)
    expect(
      (await api(origin.url, 'PUT', '/meta/ldap/team-mappings/acme/devs', { group: groupDn('devs') }, null)).status,
    ).toBe(401)
  })

  it('creates accounts for directory users and gives mapped teams exactly their groups’ members', async () => {
    // a local user put in a mapped team by hand: the directory decides that team's members
    const dave = id().accounts.insert({ name: 'dave', kind: 'user', now: Date.now() })
    id().accounts.addTeamMember(devs, dave.id)

    const r = await syncNow(origin.url)
    expect(r).toMatchObject({
      ok: true,
      usersFound: 3,
      created: 3,
      deactivated: 0,
      teamMembershipsAdded: 3,
      teamMembershipsRemoved: 1,
      adminsGranted: 1,
      guardTriggered: false,
      errors: [],
    })
    expect(account('bob')).toMatchObject({
      source: 'ldap',
      ldapDn: userDn('bob'),
      fullName: 'Bob Builder',
      active: true,
      isAdmin: false,
    })
    expect(members(devs)).toEqual(['alice', 'bob'])
    expect(members(ops)).toEqual(['carol'])
    expect(account('alice')?.isAdmin).toBe(true)
    expect(id().accounts.membership(devs.orgId, account('bob')!.id)).toBe('member')
  })

  it('changes nothing when run again', async () => {
    expect(await syncNow(origin.url)).toMatchObject({
      ok: true,
      created: 0,
      updated: 0,
      deactivated: 0,
      teamMembershipsAdded: 0,
      teamMembershipsRemoved: 0,
      adminsGranted: 0,
      adminsRevoked: 0,
    })
  })

  it('follows the directory: a new group member is added, one who left is removed, changed entries are updated', async () => {
    await slapd.addToGroup('devs', userDn('carol'))
    await slapd.removeFromGroup('devs', userDn('bob'))
    await slapd.modify(userDn('alice'), [{ operation: 'replace', attribute: 'mail', values: ['alice@new.wharf.test'] }])
    const r = await syncNow(origin.url)
    expect(r).toMatchObject({ ok: true, created: 0, updated: 1, teamMembershipsAdded: 1, teamMembershipsRemoved: 1 })
    expect(members(devs)).toEqual(['alice', 'carol'])
    expect(account('alice')?.email).toBe('alice@new.wharf.test')
  })

  it('updates the teams of a user who logs in, without waiting for the sync', async () => {
    await slapd.addToGroup('ops', userDn('bob'))
    await slapd.removeFromGroup('devs', userDn('carol'))
    expect(await loginStatus(origin.url, 'bob', 'bob-password')).toBe(200)
    expect(await loginStatus(origin.url, 'carol', 'carol-password')).toBe(200)
    expect(members(ops)).toEqual(['bob', 'carol'])
    expect(members(devs)).toEqual(['alice'])
  })

  it('deactivates a user removed from the directory and revokes their tokens', async () => {
    const bob = account('bob')!
    const pat = id().auth.createPersonalToken(bob.id, 'ci', null)
    expect(await loginStatus(origin.url, 'bob', pat.token)).toBe(200)

    // bob's entry goes; the ops group still names his DN, as directories without referential integrity do
    await slapd.delete(userDn('bob'))
    const r = await syncNow(origin.url)
    expect(r).toMatchObject({
      ok: true,
      usersFound: 2,
      deactivated: 1,
      guardTriggered: false,
      teamMembershipsRemoved: 1,
    })
    expect(r.tokensRevoked).toBeGreaterThanOrEqual(1)
    expect(account('bob')?.active).toBe(false)
    expect(id().accessStore.token(pat.id)?.revokedAt).not.toBeNull()
    expect(await loginStatus(origin.url, 'bob', pat.token)).toBe(401)
    expect(await loginStatus(origin.url, 'bob', 'bob-password')).toBe(401)
    expect(members(ops)).toEqual(['carol'])
    expect(account('alice')?.active).toBe(true)
    expect(id().events.list({ action: 'account.deactivate', target: 'bob', limit: 10 })).toHaveLength(1)
  })

  it('deactivates nobody when the user search returns nobody (the empty-search guard)', async () => {
    const alice = account('alice')!
    const pat = id().auth.createPersonalToken(alice.id, 'laptop', null)
    await configure(origin.url, { userFilter: '(uid=nobody-has-this-uid)' })
    const r = await syncNow(origin.url)
    expect(r).toMatchObject({ ok: true, usersFound: 0, deactivated: 0, tokensRevoked: 0, guardTriggered: true })
    expect(String((r.errors as string[])[0])).toMatch(/returned nobody.*nobody was deactivated/)
    expect(account('alice')?.active).toBe(true)
    expect(account('carol')?.active).toBe(true)
    expect(await loginStatus(origin.url, 'alice', pat.token)).toBe(200)

    await configure(origin.url, { userFilter: '(objectClass=inetOrgPerson)' })
    expect(await syncNow(origin.url)).toMatchObject({ ok: true, usersFound: 2, deactivated: 0, guardTriggered: false })
  })

  it('changes nothing when the directory cannot be read', async () => {
    await configure(origin.url, { bindPassword: 'not-the-reader-password' })
    const r = await syncNow(origin.url)
    expect(r).toMatchObject({ ok: false, created: 0, deactivated: 0, teamMembershipsRemoved: 0 })
    expect((r.errors as string[]).join()).toContain(`bind as ${slapd.readerDn}: invalid credentials`)
    expect(account('alice')?.active).toBe(true)
    expect(members(devs)).toEqual(['alice'])
    await configure(origin.url, { bindPassword: slapd.readerPassword })
  })

  it('reactivates a user who comes back, but not one an administrator deactivated', async () => {
    await slapd.addUser('bob', 'bob-password-2', { cn: 'Bob Builder' })
    const carol = account('carol')!
    id().accounts.update({ ...carol, active: false }, Date.now())
    const r = await syncNow(origin.url)
    expect(r).toMatchObject({ ok: true, reactivated: 1, created: 0, deactivated: 0 })
    expect(account('bob')?.active).toBe(true)
    expect(account('carol')?.active).toBe(false)
    expect(await loginStatus(origin.url, 'bob', 'bob-password-2')).toBe(200)
  })

  it('records each sync as an ldap.sync event, without the bind password', async () => {
    const before = id().events.list({ action: 'ldap.sync', limit: 100 }).length
    await syncNow(origin.url)
    const events = id().events.list({ action: 'ldap.sync', limit: 100 })
    expect(events.length).toBe(before + 1)
    expect(events[0]).toMatchObject({
      actor: 'admin',
      outcome: 'success',
      detail: { usersFound: 3, guardTriggered: false },
    })
    expect(events.some((e) => e.outcome === 'failure')).toBe(true)
    const all = JSON.stringify(id().events.list({ limit: 1000 }))
    expect(all).not.toContain(slapd.readerPassword)
    expect(all).not.toContain('not-the-reader-password')
  })

  it('never runs two syncs at once: a sync asked for while one runs joins it', async () => {
    const before = id().events.list({ action: 'ldap.sync', limit: 100 }).length
    const first = id().ldap.sync()
    const second = id().ldap.sync(systemActor('schedule'))
    expect(second).toBe(first)
    await first
    expect(id().events.list({ action: 'ldap.sync', limit: 100 }).length).toBe(before + 1)
    const third = id().ldap.sync()
    expect(third).not.toBe(first)
    await third
  })
})
