import type { OciErrorBody } from '../oci/errors.ts'

/**
 * Why an upstream could not give what was asked: unreachable, too slow, or answering with something the cache
 * cannot use (a 5xx, bytes that do not match their digest, a registry that does not trust our origin).
 */
export type UpstreamErrorCode = 'UPSTREAM_UNAVAILABLE' | 'UPSTREAM_TIMEOUT' | 'UPSTREAM_INVALID' | 'UPSTREAM_UNTRUSTED'

/**
 * An upstream failure as the client sees it: 502, or 504 for a timeout. The spec's error codes are all 4xx
 * client errors, so the JSON body carries `UNKNOWN` (as the origin's internal errors do) and a message naming the
 * upstream; the stable `code` here is for logs and tests.
 */
export class UpstreamError extends Error {
  readonly code: UpstreamErrorCode
  readonly status: 502 | 504
  /** The upstream's URL origin. */
  readonly upstream: string
  readonly detail: Record<string, unknown>

  constructor(
    code: UpstreamErrorCode,
    upstream: string,
    message: string,
    opts: { cause?: unknown; detail?: Record<string, unknown> } = {},
  ) {
    super(message, { cause: opts.cause })
    this.name = 'UpstreamError'
    this.code = code
    this.status = code === 'UPSTREAM_TIMEOUT' ? 504 : 502
    this.upstream = upstream
    this.detail = { upstream, ...opts.detail }
  }

  toBody(): OciErrorBody {
    return { errors: [{ code: 'UNKNOWN', message: this.message, detail: this.detail }] }
  }
}

/** Failures that mean "the upstream cannot answer now", after which stale content may be served. */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof UpstreamError) return err.code === 'UPSTREAM_UNAVAILABLE' || err.code === 'UPSTREAM_TIMEOUT'
  return (err as { code?: string } | undefined)?.code === 'TOOMANYREQUESTS'
}
