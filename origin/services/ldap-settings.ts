import { FilterParser } from 'ldapts'
import { validate as validCron } from 'node-cron'
import { z } from 'zod'
import { describeIssues, flag, strict, whole } from '../../lib/validation.ts'

/**
 * LDAP / Active Directory settings, stored as JSON under the settings key `ldap` and changed through
 * `PUT /api/v0/meta/ldap`. Which teams follow which directory group is kept on the teams themselves
 * (`teams.ldap_group`), not here.
 */
export interface LdapSettings {
  /** Off: only local accounts log in and no sync runs. Default false. */
  enabled: boolean
  /** `ldap://host[:389]` or `ldaps://host[:636]`. */
  url: string
  /** Upgrade an `ldap://` connection with StartTLS before anything is sent; ignored for `ldaps://`. Default false. */
  startTls: boolean
  /** PEM certificates to trust for ldaps/StartTLS instead of Node's CA list; '' for the default list. */
  tlsCaPem: string
  /** Check the server certificate. Default true; false only for a test directory. */
  tlsRejectUnauthorized: boolean
  /** The service (reader) account that searches; '' searches anonymously. */
  bindDn: string
  /** Never returned by the API nor logged. */
  bindPassword: string
  /** Where users are searched (subtree). */
  userBaseDn: string
  /**
   * Which entries are users. Default `(objectClass=inetOrgPerson)`. For AD, leave out disabled accounts so the
   * sync deactivates them: `(&(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))`.
   */
  userFilter: string
  /** Holds the login name: `uid` (default) or AD's `sAMAccountName`. Account names are its value lowercased. */
  usernameAttribute: string
  /** Default `cn`; AD: `displayName`. */
  fullNameAttribute: string
  /** Default `mail`. */
  emailAttribute: string
  /** Groups mapped to teams, and the admin group, must sit under this DN. '' when no group is used. */
  groupBaseDn: string
  /** Which entries are groups. Default `(objectClass=groupOfNames)`; AD: `(objectClass=group)`. */
  groupFilter: string
  /** `member` (default) or `uniqueMember` hold user DNs; `memberUid` holds login names. */
  groupMemberAttribute: string
  /** Members are system administrators, everyone else among directory users is not. '' leaves the flag alone. */
  adminGroupDn: string
  /** When the scheduled sync runs (cron, 5 or 6 fields). Default hourly `0 * * * *`; '' for no scheduled sync. */
  syncSchedule: string
  /** Connect and per-operation timeout. Default 5000 ms. */
  timeoutMs: number
}

/** What GET returns: the settings without the bind password. */
export type PublicLdapSettings = Omit<LdapSettings, 'bindPassword'> & { bindPasswordSet: boolean }

export const LDAP_SETTINGS_KEY = 'ldap'

export const LDAP_DEFAULTS: Readonly<LdapSettings> = Object.freeze({
  enabled: false,
  url: '',
  startTls: false,
  tlsCaPem: '',
  tlsRejectUnauthorized: true,
  bindDn: '',
  bindPassword: '',
  userBaseDn: '',
  userFilter: '(objectClass=inetOrgPerson)',
  usernameAttribute: 'uid',
  fullNameAttribute: 'cn',
  emailAttribute: 'mail',
  groupBaseDn: '',
  groupFilter: '(objectClass=groupOfNames)',
  groupMemberAttribute: 'member',
  adminGroupDn: '',
  syncSchedule: '0 * * * *',
  timeoutMs: 5000,
})

export function publicLdapSettings(s: LdapSettings): PublicLdapSettings {
  const { bindPassword, ...rest } = s
  return { ...rest, bindPasswordSet: bindPassword !== '' }
}

export const LDAP_STRING_FIELDS = [
  'url',
  'tlsCaPem',
  'bindDn',
  'bindPassword',
  'userBaseDn',
  'userFilter',
  'usernameAttribute',
  'fullNameAttribute',
  'emailAttribute',
  'groupBaseDn',
  'groupFilter',
  'groupMemberAttribute',
  'adminGroupDn',
  'syncSchedule',
] as const
const BOOLEAN_FIELDS = ['enabled', 'startTls', 'tlsRejectUnauthorized'] as const
const ATTRIBUTE_RE = /^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)$/
const MAX_STRING = 65_536

export type SettingsParse = { ok: true; settings: LdapSettings } | { ok: false; problems: string[] }

/** The fields a settings change may carry, each optional; `bindPasswordSet` (from a GET sent back) is ignored. */
export const LDAP_SETTINGS_INPUT = strict({
  ...(Object.fromEntries(
    LDAP_STRING_FIELDS.map((k) => [
      k,
      z
        .string({ error: 'must be a string' })
        .max(MAX_STRING, { error: `must be a string of at most ${MAX_STRING} characters` })
        .optional(),
    ]),
  ) as Record<(typeof LDAP_STRING_FIELDS)[number], z.ZodOptional<z.ZodString>>),
  ...(Object.fromEntries(BOOLEAN_FIELDS.map((k) => [k, flag().optional()])) as Record<
    (typeof BOOLEAN_FIELDS)[number],
    z.ZodOptional<z.ZodBoolean>
  >),
  timeoutMs: whole(100, 120_000).optional(),
  bindPasswordSet: z.unknown().optional(),
})

/**
 * Applies a partial update to `current`: fields absent from `body` keep their value (so a body without
 * `bindPassword` keeps the stored one). Every problem is reported at once.
 */
export function parseLdapSettings(body: unknown, current: LdapSettings): SettingsParse {
  const parsed = LDAP_SETTINGS_INPUT.safeParse(body)
  if (!parsed.success) return { ok: false, problems: describeIssues(parsed.error.issues, body).map((p) => p.message) }
  const input = parsed.data
  const problems: string[] = []
  const next: LdapSettings = { ...current }
  for (const key of LDAP_STRING_FIELDS) {
    const v = input[key]
    if (v !== undefined) next[key] = key === 'bindPassword' || key === 'tlsCaPem' ? v : v.trim()
  }
  for (const key of BOOLEAN_FIELDS) {
    const v = input[key]
    if (v !== undefined) next[key] = v
  }
  if (input.timeoutMs !== undefined) next.timeoutMs = input.timeoutMs

  if (next.url !== '') {
    let url: URL | undefined
    try {
      url = new URL(next.url)
    } catch {
      problems.push(`url "${next.url}" is not a URL: use ldap://host:389 or ldaps://host:636`)
    }
    if (url && url.protocol !== 'ldap:' && url.protocol !== 'ldaps:')
      problems.push(`url must start with ldap:// or ldaps:// (got ${url.protocol}//)`)
    if (url && ((url.pathname !== '' && url.pathname !== '/') || url.search || url.hash || url.username)) {
      problems.push('url takes only scheme, host and port: put base DNs and filters in their own fields')
    }
  } else if (next.enabled) {
    problems.push('url is required when LDAP is enabled')
  }
  if (next.enabled && next.userBaseDn === '') problems.push('userBaseDn is required when LDAP is enabled')
  for (const key of ['bindDn', 'userBaseDn', 'groupBaseDn', 'adminGroupDn'] as const) {
    if (next[key] !== '' && !looksLikeDn(next[key]))
      problems.push(`${key} "${next[key]}" is not a DN (like ou=people,dc=example,dc=org)`)
  }
  // a DN with an empty password is an unauthenticated bind, which servers may accept as anonymous (RFC 4513 §5.1.2)
  if (next.bindDn !== '' && next.bindPassword === '')
    problems.push('bindPassword is required with a bindDn (leave both empty to search anonymously)')
  for (const key of ['userFilter', 'groupFilter'] as const) {
    const problem = filterProblem(next[key])
    if (problem) problems.push(`${key}: ${problem}`)
  }
  for (const key of ['usernameAttribute', 'fullNameAttribute', 'emailAttribute', 'groupMemberAttribute'] as const) {
    if (!ATTRIBUTE_RE.test(next[key])) problems.push(`${key} "${next[key]}" is not an attribute name`)
  }
  if (next.adminGroupDn !== '' && !isUnderDn(next.adminGroupDn, next.groupBaseDn)) {
    problems.push('adminGroupDn must be under groupBaseDn')
  }
  if (next.syncSchedule !== '' && !validCron(next.syncSchedule)) {
    problems.push(
      `syncSchedule "${next.syncSchedule}" is not a cron expression (e.g. "0 * * * *" for hourly, "" for none)`,
    )
  }
  if (next.tlsCaPem !== '' && !next.tlsCaPem.includes('-----BEGIN CERTIFICATE-----'))
    problems.push('tlsCaPem must hold PEM certificates')
  return problems.length > 0 ? { ok: false, problems } : { ok: true, settings: next }
}

function filterProblem(filter: string): string | undefined {
  if (!filter.startsWith('(') || !filter.endsWith(')'))
    return `"${filter}" must be wrapped in parentheses, like (objectClass=person)`
  try {
    FilterParser.parseString(filter)
    return undefined
  } catch (err) {
    return `"${filter}" is not an LDAP filter: ${(err as Error).message}`
  }
}

function looksLikeDn(dn: string): boolean {
  return splitDn(dn).every((rdn) => /^\s*[A-Za-z0-9.-]+\s*=/.test(rdn))
}

/** RDNs of a DN, split at unescaped commas. */
function splitDn(dn: string): string[] {
  const rdns: string[] = []
  let cur = ''
  for (let i = 0; i < dn.length; i++) {
    const ch = dn[i]!
    if (ch === '\\' && i + 1 < dn.length) {
      cur += ch + dn[i + 1]!
      i++
    } else if (ch === ',') {
      rdns.push(cur)
      cur = ''
    } else {
      cur += ch
    }
  }
  rdns.push(cur)
  return rdns
}

/**
 * A DN in a form that compares equal for the spellings a directory hands out: no spaces around `,` and `=`,
 * lower case (the naming attributes in practice, cn/uid/ou/dc, match case-insensitively).
 */
export function normalizeDn(dn: string): string {
  return splitDn(dn)
    .map((rdn) => {
      const eq = rdn.indexOf('=')
      const type = eq < 0 ? rdn : rdn.slice(0, eq)
      const value = eq < 0 ? '' : rdn.slice(eq + 1)
      return `${type.trim().toLowerCase()}=${value.trim().toLowerCase()}`
    })
    .join(',')
}

/** Whether `dn` is `base` or below it. */
export function isUnderDn(dn: string, base: string): boolean {
  if (base === '') return false
  const d = normalizeDn(dn)
  const b = normalizeDn(base)
  return d === b || d.endsWith(`,${b}`)
}
