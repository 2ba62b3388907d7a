import { request } from 'undici'

export interface Credentials {
  username: string
  password: string
}

export interface TokenResponse {
  status: number
  body: Record<string, unknown>
  headers: Record<string, string | string[] | undefined>
}

/** GET /auth/token as docker does: repeated scope parameters, basic auth when credentials are given. */
export async function getToken(
  baseUrl: string,
  scopes: string[],
  creds?: Credentials,
  extra: Record<string, string> = {},
): Promise<TokenResponse> {
  const qs = new URLSearchParams({ service: new URL(baseUrl).host, ...extra })
  for (const s of scopes) qs.append('scope', s)
  const headers: Record<string, string> = {}
  if (creds) headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`
  const res = await request(`${baseUrl}/auth/token?${qs}`, { headers })
  const text = await res.body.text()
  return {
    status: res.statusCode,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    headers: res.headers,
  }
}

/** A bearer token for the scopes, or a thrown error naming the status. */
export async function tokenFor(baseUrl: string, scopes: string[], creds?: Credentials): Promise<string> {
  const res = await getToken(baseUrl, scopes, creds)
  if (res.status !== 200 || typeof res.body.token !== 'string')
    throw new Error(`token request failed: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.token
}

/** The access granted by a JWT, decoded without verification (tests read what the server put in). */
export function decodeAccess(token: string): { type: string; name: string; actions: string[] }[] {
  const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { access?: [] }
  return payload.access ?? []
}

export function basic(creds: Credentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`
}
