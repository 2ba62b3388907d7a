import { afterAll, beforeAll, expect, it } from 'vitest'
import type { OriginDeps } from '../../origin/deps.ts'
import { describeWithSlapd, startSlapd, type Slapd } from '../helpers/slapd.ts'
import { startOrigin, type RunningOrigin } from '../helpers/start-origin.ts'
import { api, configure, loginStatus, settingsFor } from './fixtures.ts'

describeWithSlapd('LDAP over StartTLS and ldaps://', () => {
  let slapd: Slapd
  let origin: RunningOrigin & { deps: OriginDeps }
  const test = async (body: Record<string, unknown>) => (await api(origin.url, 'POST', '/meta/ldap/test', body)).body

  beforeAll(async () => {
    slapd = await startSlapd({ tls: true })
    origin = await startOrigin()
    await configure(origin.url, settingsFor(slapd))
  })
  afterAll(async () => {
    await origin?.close()
    await slapd?.stop()
  })

  it('upgrades ldap:// with StartTLS, checking the certificate against tlsCaPem', async () => {
    expect(await test({ startTls: true, tlsCaPem: slapd.caPem })).toMatchObject({ ok: true, usersFound: 3 })
    // without the CA the self-signed certificate is refused: TLS really was negotiated
    const untrusted = await test({ startTls: true })
    expect(untrusted.ok).toBe(false)
    expect(untrusted.error).toMatch(/^StartTLS with ldap:\/\/127\.0\.0\.1:\d+: .*self.signed/i)
    expect(await test({ startTls: true, tlsRejectUnauthorized: false })).toMatchObject({ ok: true })
    await configure(origin.url, { startTls: true, tlsCaPem: slapd.caPem })
    expect(await loginStatus(origin.url, 'bob', 'bob-password')).toBe(200)
  })

  it('speaks TLS from the start with ldaps://, and logs users in over it', async () => {
    expect(await test({ url: slapd.ldapsUrl, tlsCaPem: slapd.caPem })).toMatchObject({ ok: true, usersFound: 3 })
    expect((await test({ url: slapd.ldapsUrl, tlsCaPem: '' })).ok).toBe(false)
    await configure(origin.url, { url: slapd.ldapsUrl, tlsCaPem: slapd.caPem })
    expect(await loginStatus(origin.url, 'alice', 'alice-password')).toBe(200)
    expect(origin.deps.identity.accounts.byName('alice')?.source).toBe('ldap')
  })
})
