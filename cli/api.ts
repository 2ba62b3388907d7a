import type { z } from 'zod'
import { getGlobalDispatcher } from 'undici'
import { parseBearerChallenge } from '../oci/challenge.ts'
import { TokenClient, TokenError } from '../oci/token-client.ts'
import { ApiCallError } from './errors.ts'

export interface ClientOptions {
  /** The control plane's base URL (http://127.0.0.1:5002). */
  url: string
  username?: string
  /** A password or a personal access token. */
  password?: string
  /** A token from the origin, used as is (WHARF_TOKEN). */
  token?: string
}

export interface Answer {
  status: number
  headers: Headers
  /** Parsed JSON, or the text when the answer is not JSON, or null when empty. */
  body: unknown
}

const ADMIN_SCOPE = 'controlplane:admin:*'

/**
 * A small client of the control plane's `/api/v0`. It learns where tokens come from from the 401 challenge, asks the
 * origin's realm for `controlplane:admin:*` with basic credentials (oci/token-client.ts), and repeats the request
 * with the token.
 */
export class CliControlPlaneClient {
  readonly #o: ClientOptions
  #token: string | undefined
  #tokens: TokenClient | undefined

  constructor(o: ClientOptions) {
    this.#o = o
    this.#token = o.token
  }

  /** Calls the API; any status other than 2xx is thrown as an ApiCallError carrying the server's message. */
  async call(method: string, path: string, body?: unknown, accept = 'application/json'): Promise<Answer> {
    let res = await this.#send(method, path, body, accept)
    if (res.status === 401 && !this.#o.token) {
      const challenge = parseBearerChallenge(res.headers.get('www-authenticate'))
      if (challenge) {
        this.#token = await this.#fetchToken(challenge.realm, challenge.service)
        res = await this.#send(method, path, body, accept)
      }
    }
    const answer = await read(res)
    if (res.status >= 300) {
      const err = (answer.body as { error?: { code?: string; message?: string } } | null)?.error
      const message = err?.message ?? (typeof answer.body === 'string' && answer.body ? answer.body : res.statusText)
      throw new ApiCallError(`${method} ${path}: ${res.status} ${err?.code ?? ''} ${message}`.replace(/\s+/g, ' '), res.status, err?.code)
    }
    return answer
  }

  /**
   * Calls the API and reads the answer with `schema`, one of the control plane's own (control-plane/schemas.ts): an
   * answer of another shape is an ApiCallError naming what is off, not a crash further on.
   */
  async read<T extends z.ZodType>(schema: T, method: string, path: string, body?: unknown): Promise<z.output<T>> {
    const answer = await this.call(method, path, body)
    const parsed = schema.safeParse(answer.body)
    if (!parsed.success) {
      const where = parsed.error.issues.map((i) => `${i.path.join('.') || 'the answer'}: ${i.message}`).join('; ')
      throw new ApiCallError(`${method} ${path}: the control plane answered in a shape this wharf does not know (${where})`, answer.status)
    }
    return parsed.data
  }

  async #send(method: string, path: string, body: unknown, accept: string): Promise<Response> {
    const headers: Record<string, string> = { accept }
    if (this.#token) headers.authorization = `Bearer ${this.#token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    const url = `${this.#o.url.replace(/\/+$/, '')}/api/v0${path}`
    try {
      return await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause
      throw new ApiCallError(
        `cannot reach the control plane at ${this.#o.url} (${cause?.code ?? cause?.message ?? (err as Error).message}): check --control-plane or WHARF_CONTROL_PLANE_URL`,
        0,
      )
    }
  }

  async #fetchToken(realm: string, service: string | undefined): Promise<string> {
    const { username, password } = this.#o
    if (!username || password === undefined)
      throw new ApiCallError(
        'the control plane needs an admin login: set WHARF_USERNAME and WHARF_PASSWORD (a password or personal access token), or use --username with --password-stdin',
        401,
      )
    this.#tokens ??= new TokenClient({ dispatcher: getGlobalDispatcher(), credentials: { username, password } })
    let token: string
    try {
      token = await this.#tokens.token({ realm, ...(service !== undefined ? { service } : {}) }, [ADMIN_SCOPE])
    } catch (err) {
      if (!(err instanceof TokenError)) throw err
      if (err.code === 'TOKEN_UNAVAILABLE')
        throw new ApiCallError(
          `cannot reach the origin's token service at ${err.realm}: ${(err.cause as Error | undefined)?.message ?? err.message}`,
          0,
        )
      if (err.status === 401) throw new ApiCallError(`the origin refused the login of ${username}: wrong username or password`, 401)
      throw new ApiCallError(`the origin's token service answered ${err.status ?? err.message}`, err.status ?? 0)
    }
    const access = decodeAccess(token)
    if (!access.some((a) => a.type === 'controlplane' && a.name === 'admin'))
      throw new ApiCallError(`${username} is not a system administrator: the origin did not grant ${ADMIN_SCOPE}`, 403, 'FORBIDDEN')
    return token
  }
}

async function read(res: Response): Promise<Answer> {
  const text = await res.text()
  let body: unknown = text === '' ? null : text
  if ((res.headers.get('content-type') ?? '').includes('json') && text) {
    try {
      body = JSON.parse(text)
    } catch {
      // kept as text
    }
  }
  return { status: res.status, headers: res.headers, body }
}

function decodeAccess(token: string): { type?: string; name?: string }[] {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { access?: unknown }
    return Array.isArray(payload.access) ? (payload.access as { type?: string; name?: string }[]) : []
  } catch {
    return []
  }
}
