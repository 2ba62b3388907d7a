import { request } from 'undici'
import { basic, getToken, type Credentials } from '../helpers/auth.ts'
import { GROUPS_DN, PEOPLE_DN, type Slapd } from '../helpers/slapd.ts'
import { TEST_ADMIN } from '../helpers/start-origin.ts'

export interface ApiResponse {
  status: number
  body: Record<string, unknown>
}

/** One /api/v0 call; admin basic auth unless `as` says otherwise (null: anonymous). */
export async function api(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  as: Credentials | null = TEST_ADMIN,
): Promise<ApiResponse> {
  const headers: Record<string, string> = {}
  if (as) headers.authorization = basic(as)
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await request(`${baseUrl}/api/v0${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.body.text()
  return { status: res.statusCode, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} }
}

/** Settings for the seeded slapd, searching as its read-only service account. */
export function settingsFor(slapd: Slapd, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    enabled: true,
    url: slapd.url,
    bindDn: slapd.readerDn,
    bindPassword: slapd.readerPassword,
    userBaseDn: PEOPLE_DN,
    userFilter: '(objectClass=inetOrgPerson)',
    usernameAttribute: 'uid',
    fullNameAttribute: 'cn',
    emailAttribute: 'mail',
    groupBaseDn: GROUPS_DN,
    groupFilter: '(objectClass=groupOfNames)',
    groupMemberAttribute: 'member',
    adminGroupDn: '',
    syncSchedule: '',
    timeoutMs: 3000,
    ...overrides,
  }
}

/** PUT /api/v0/meta/ldap, failing loudly unless it is a 200. */
export async function configure(baseUrl: string, settings: Record<string, unknown>): Promise<Record<string, unknown>> {
  const r = await api(baseUrl, 'PUT', '/meta/ldap', settings)
  if (r.status !== 200) throw new Error(`PUT /api/v0/meta/ldap: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body
}

/** POST /api/v0/meta/ldap/sync, failing loudly unless it is a 200. */
export async function syncNow(baseUrl: string): Promise<Record<string, unknown>> {
  const r = await api(baseUrl, 'POST', '/meta/ldap/sync')
  if (r.status !== 200) throw new Error(`POST /api/v0/meta/ldap/sync: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body
}

/** The status of GET /auth/token with basic auth (what `docker login` does). */
export async function loginStatus(baseUrl: string, username: string, password: string): Promise<number> {
  return (await getToken(baseUrl, [], { username, password })).status
}
