/**
 * A small /api/v0 client for tests (global fetch). It never throws on a status: callers assert statuses and
 * `{ error: { code } }` bodies themselves. Fixtures (users, organizations, repositories) are made through the API.
 */
import { createHash, randomBytes } from 'node:crypto'
import { basic, tokenFor, type Credentials } from './auth.ts'

/** How a request authenticates: basic credentials, a bearer token, a session cookie, or nothing. */
export type Auth = Credentials | { bearer: string } | { cookie: string } | undefined

export interface ApiResult {
  status: number
  headers: Headers
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read whatever JSON came back
  body: any
}

export interface ApiClient {
  call(method: string, path: string, auth?: Auth, body?: unknown, headers?: Record<string, string>): Promise<ApiResult>
}

export function apiClient(baseUrl: string): ApiClient {
  return {
    async call(method, path, auth, body, headers = {}) {
      const h: Record<string, string> = { ...headers }
      if (auth && 'username' in auth) h.authorization = basic(auth)
      else if (auth && 'bearer' in auth) h.authorization = `Bearer ${auth.bearer}`
      else if (auth && 'cookie' in auth) h.cookie = auth.cookie
      let payload: string | undefined
      if (body !== undefined) {
        payload = typeof body === 'string' ? body : JSON.stringify(body)
        h['content-type'] ??= 'application/json'
      }
      const res = await fetch(`${baseUrl}/api/v0${path}`, { method, headers: h, body: payload })
      const text = await res.text()
      let parsed: unknown = text
      try {
        parsed = text ? JSON.parse(text) : null
      } catch {
        // not JSON: tests see the text
      }
      return { status: res.status, headers: res.headers, body: parsed }
    },
  }
}

/** Creates a user through the API as `admin` and returns their credentials. */
export async function createUser(
  api: ApiClient,
  admin: Credentials,
  name: string,
  extra: Record<string, unknown> = {},
): Promise<Credentials> {
  const password = `${name}-password-1`
  const res = await api.call('POST', '/accounts', admin, { name, password, ...extra })
  if (res.status !== 201) throw new Error(`creating user ${name}: ${res.status} ${JSON.stringify(res.body)}`)
  return { username: name, password }
}

/** Creates an organization through the API, with `owner` (if given) as its owner. */
export async function createOrg(api: ApiClient, admin: Credentials, name: string, owner?: string): Promise<void> {
  const res = await api.call('POST', '/accounts', admin, { name, kind: 'org' })
  if (res.status !== 201) throw new Error(`creating org ${name}: ${res.status} ${JSON.stringify(res.body)}`)
  if (owner) {
    const m = await api.call('PUT', `/orgs/${name}/members/${owner}`, admin, { isOwner: true })
    if (m.status !== 200) throw new Error(`making ${owner} owner of ${name}: ${m.status} ${JSON.stringify(m.body)}`)
  }
}

/** Creates a repository through the API. */
export async function createRepo(
  api: ApiClient,
  auth: Auth,
  name: string,
  visibility: 'private' | 'public' = 'private',
): Promise<void> {
  const res = await api.call('POST', '/repositories', auth, { name, visibility })
  if (res.status !== 201) throw new Error(`creating ${name}: ${res.status} ${JSON.stringify(res.body)}`)
}

const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json'

/** A one-layer image: its blobs, and a manifest referencing them. */
export function tinyImage() {
  const layer = randomBytes(256)
  const config = Buffer.from('{"architecture":"amd64","os":"linux"}')
  const digest = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_TYPE,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digest(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digest(layer), size: layer.length }],
    }),
  )
  return { blobs: [layer, config], manifest, manifestDigest: digest(manifest), mediaType: MANIFEST_TYPE, digest }
}

export type TinyImage = ReturnType<typeof tinyImage>

/**
 * Pushes a tiny image with a token from /auth/token. Returns the status of
 * the first step that failed, or of the manifest PUT, and its body.
 */
export async function pushImage(baseUrl: string, repo: string, creds: Credentials | undefined, tag = 'v1') {
  const image = tinyImage()
  const token = await tokenFor(baseUrl, [`repository:${repo}:pull,push`], creds)
  const auth = { authorization: `Bearer ${token}` }
  for (const blob of image.blobs) {
    const r = await fetch(`${baseUrl}/v2/${repo}/blobs/uploads/?digest=${image.digest(blob)}`, {
      method: 'POST',
      headers: auth,
      body: blob,
    })
    if (r.status !== 201) return { status: r.status, text: await r.text(), image }
  }
  const r = await fetch(`${baseUrl}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { ...auth, 'content-type': MANIFEST_TYPE },
    body: image.manifest,
  })
  return { status: r.status, text: await r.text(), image }
}
