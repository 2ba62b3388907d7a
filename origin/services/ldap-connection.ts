import { isIP } from 'node:net'
import type { ConnectionOptions } from 'node:tls'
import { Client, InvalidCredentialsError, NoSuchObjectError, ResultCodeError, type Entry } from 'ldapts'
import type { LdapSettings } from './ldap-settings.ts'

/** An LDAP operation that failed, with the step it failed in (`bind as cn=reader,…: invalid credentials`). */
export class LdapStepError extends Error {
  readonly step: string
  constructor(step: string, cause: unknown) {
    super(`${step}: ${describeLdapError(cause)}`, { cause })
    this.name = 'LdapStepError'
    this.step = step
  }
}

/** A client for the settings' server, upgraded with StartTLS when configured (ldaps:// is TLS from the start). */
export async function openLdap(s: LdapSettings): Promise<Client> {
  const url = new URL(s.url)
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
  const tlsOptions: ConnectionOptions = { rejectUnauthorized: s.tlsRejectUnauthorized }
  if (s.tlsCaPem !== '') tlsOptions.ca = s.tlsCaPem
  if (!isIP(host)) tlsOptions.servername = host
  const ldaps = url.protocol === 'ldaps:'
  // ldapts speaks TLS from the first byte whenever tlsOptions are given, even for ldap://: StartTLS gets them later
  const client = new Client({
    url: s.url,
    timeout: s.timeoutMs,
    connectTimeout: s.timeoutMs,
    ...(ldaps ? { tlsOptions } : {}),
  })
  if (s.startTls && !ldaps) {
    try {
      // with an existing socket tls.connect checks the certificate against "localhost" unless told the host
      await client.startTLS({ ...tlsOptions, host })
    } catch (err) {
      await client.unbind().catch(() => {})
      throw new LdapStepError(`StartTLS with ${s.url}`, err)
    }
  }
  return client
}

/** Runs `fn` on a connection bound as the service account (anonymous without a bindDn), closed afterwards. */
export async function withServiceBind<T>(s: LdapSettings, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await openLdap(s)
  try {
    if (s.bindDn !== '') await step(`bind as ${s.bindDn}`, client.bind(s.bindDn, s.bindPassword))
    return await fn(client)
  } finally {
    await client.unbind().catch(() => {})
  }
}

/** Awaits `p`, naming `name` as the step when it fails. */
export async function step<T>(name: string, p: Promise<T>): Promise<T> {
  try {
    return await p
  } catch (err) {
    throw err instanceof LdapStepError ? err : new LdapStepError(name, err)
  }
}

/** An attribute's values as strings; attribute names match case-insensitively. */
export function valuesOf(entry: Entry, attribute: string): string[] {
  const want = attribute.toLowerCase()
  const key = Object.keys(entry).find((k) => k.toLowerCase() === want)
  const v = key === undefined || key === 'dn' ? undefined : entry[key]
  const list = v === undefined ? [] : Array.isArray(v) ? v : [v]
  return list.map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : x))
}

/** A short reason for an LDAP failure; never holds a password (ldapts errors carry none). */
export function describeLdapError(err: unknown): string {
  if (err instanceof LdapStepError) return err.message
  if (err instanceof InvalidCredentialsError) return 'invalid credentials'
  if (err instanceof NoSuchObjectError) return 'no such entry (check the DN)'
  if (err instanceof ResultCodeError) {
    return `${err.name.replace(/Error$/, '')} (result code ${err.code})${err.message ? `: ${err.message}` : ''}`
  }
  if (err instanceof Error) return err.message || err.name
  return String(err)
}
