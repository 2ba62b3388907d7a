import { request, type Dispatcher } from 'undici'

/** The site fields a node sends when joining (docs/network-protocol.md, `POST /api/v0/join`). */
export interface JoinRequest {
  name?: string
  url: string
  region?: string
  latitude?: number
  longitude?: number
  networks?: string[]
  parent?: string
  capacityBytes?: number
  version: string
}

export interface JoinAnswer {
  site: { id: string; name: string } & Record<string, unknown>
  credential: string
  heartbeatIntervalMs?: number
  metricsIntervalMs?: number
}

export interface HeartbeatRequest {
  version: string
  diskUsedBytes: number
  diskFreeBytes: number
  capacityBytes: number
  hitRatio: number | null
  /** The registry this node answers docker's registry-mirrors requests for (CACHE_DOCKER_MIRROR), or null. */
  dockerMirror: string | null
  url: string
}

export interface HeartbeatAnswer {
  state?: string
  heartbeatIntervalMs?: number
  metricsIntervalMs?: number
}

/**
 * A control plane that did not say yes: `status` is its answer (undefined when it could not be reached or its
 * answer could not be read), `code` the error code of its JSON body.
 */
export class ControlPlaneError extends Error {
  readonly status: number | undefined
  readonly code: string | undefined
  constructor(message: string, status?: number, code?: string, cause?: unknown) {
    super(message, { cause })
    this.name = 'ControlPlaneError'
    this.status = status
    this.code = code
  }

  /** Worth trying again as it is: the control plane was unreachable, overloaded or failing. */
  get transient(): boolean {
    return this.status === undefined || this.status >= 500 || this.status === 408 || this.status === 429
  }
}

export interface SiteControlPlaneClientOptions {
  /** The control plane's base URL (`CACHE_CONTROL_PLANE_URL`). */
  url: URL
  agent: Dispatcher
  /** Default per-request limit, headers and body together. */
  timeoutMs: number
}

/** Largest answer read from the control plane. */
const MAX_ANSWER_BYTES = 1 << 20

/** The node's side of the control plane's API: joining, heartbeats and usage batches. */
export class SiteControlPlaneClient {
  readonly #opts: SiteControlPlaneClientOptions
  readonly #base: string

  constructor(opts: SiteControlPlaneClientOptions) {
    this.#opts = opts
    this.#base = opts.url.href.endsWith('/') ? opts.url.href : `${opts.url.href}/`
  }

  get name(): string {
    return this.#opts.url.origin
  }

  async join(token: string, body: JoinRequest, signal?: AbortSignal): Promise<JoinAnswer> {
    const a = await this.#post('api/v0/join', token, JSON.stringify(body), signal)
    const doc = a as Partial<JoinAnswer>
    if (
      typeof doc.site?.id !== 'string' ||
      typeof doc.site.name !== 'string' ||
      typeof doc.credential !== 'string' ||
      !doc.credential
    )
      throw new ControlPlaneError(`${this.name} answered the join without a site id, name and credential`, 200)
    return doc as JoinAnswer
  }

  async heartbeat(
    siteId: string,
    credential: string,
    body: HeartbeatRequest,
    signal?: AbortSignal,
  ): Promise<HeartbeatAnswer> {
    return (await this.#post(
      `api/v0/sites/${encodeURIComponent(siteId)}/heartbeat`,
      credential,
      JSON.stringify(body),
      signal,
    )) as HeartbeatAnswer
  }

  /** Delivers one usage batch (its JSON body as kept in the outbox); answers whether it was a duplicate. */
  async metrics(
    siteId: string,
    credential: string,
    payload: string,
    signal?: AbortSignal,
  ): Promise<{ duplicate: boolean }> {
    const a = (await this.#post(`api/v0/sites/${encodeURIComponent(siteId)}/metrics`, credential, payload, signal)) as {
      duplicate?: unknown
    }
    return { duplicate: a.duplicate === true }
  }

  async #post(path: string, bearer: string, body: string, signal?: AbortSignal): Promise<unknown> {
    const url = new URL(path, this.#base)
    const timeout = AbortSignal.timeout(this.#opts.timeoutMs)
    const what = `POST ${url.pathname}`
    let res: Dispatcher.ResponseData
    try {
      res = await request(url, {
        method: 'POST',
        dispatcher: this.#opts.agent,
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${bearer}`,
          'user-agent': 'wharf-cache',
        },
        body,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        headersTimeout: this.#opts.timeoutMs,
        bodyTimeout: this.#opts.timeoutMs,
      })
    } catch (err) {
      const reason = (err as { code?: string }).code ?? (err as Error).message
      throw new ControlPlaneError(
        `control plane ${this.name} could not be reached for ${what} (${reason})`,
        undefined,
        undefined,
        err,
      )
    }
    let text: string
    try {
      text = await readText(res.body)
    } catch (err) {
      throw new ControlPlaneError(
        `control plane ${this.name} broke off its answer to ${what} (${(err as Error).message})`,
        undefined,
        undefined,
        err,
      )
    }
    let doc: unknown
    try {
      doc = text ? JSON.parse(text) : undefined
    } catch {
      doc = undefined
    }
    if (res.statusCode !== 200) {
      const e = (doc as { error?: { code?: unknown; message?: unknown } } | undefined)?.error
      const code = typeof e?.code === 'string' ? e.code : undefined
      const said = typeof e?.message === 'string' ? `: ${e.message.slice(0, 300)}` : ''
      throw new ControlPlaneError(
        `control plane ${this.name} answered ${res.statusCode}${code ? ` ${code}` : ''} to ${what}${said}`,
        res.statusCode,
        code,
      )
    }
    if (typeof doc !== 'object' || doc === null)
      throw new ControlPlaneError(`control plane ${this.name} answered ${what} without a JSON object`, undefined)
    return doc
  }
}

async function readText(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.byteLength
    if (size > MAX_ANSWER_BYTES) {
      body.destroy()
      throw new Error(`answer larger than ${MAX_ANSWER_BYTES} bytes`)
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}
