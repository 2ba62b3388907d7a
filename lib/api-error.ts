import type { Context, ErrorHandler } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { Logger } from 'pino'

/**
 * The codes of Wharf's JSON APIs (the origin's /api/v0 and the control plane's), each with its one HTTP status. The
 * body of every failure is `{ error: { code, message, detail } }`; clients branch on `code`, never on the message.
 */
export const API_ERRORS = {
  BAD_REQUEST: 400,
  /** An account setting that cannot be applied (DTR's code, e.g. an unknown cache site). */
  INVALID_USER_SETTINGS: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  /** Minting a credential needs a password given in this request, or a web session (which only a password starts). */
  PASSWORD_REQUIRED: 403,
  NOT_FOUND: 404,
  /** DTR's code for a content cache (a cache site) that does not exist. */
  NO_SUCH_CONTENT_CACHE: 404,
  /** A known path asked with a method it does not answer; the `Allow` header lists those it does. */
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  /** A cache site of that name is already registered. */
  SITE_EXISTS: 409,
  PAYLOAD_TOO_LARGE: 413,
  TOO_MANY_REQUESTS: 429,
  /** Something this request needs (a directory, the origin's keys) cannot be reached now; try again. */
  UNAVAILABLE: 503,
  /** A failure Wharf did not expect: logged, and answered without details. */
  INTERNAL: 500,
} as const

export type ApiErrorCode = keyof typeof API_ERRORS

export interface ApiErrorBody {
  error: { code: ApiErrorCode; message: string; detail: unknown }
}

export interface ApiErrorOptions {
  /** Machine-readable facts about the failure (`{ problems }`, `{ allow }`); null when absent. */
  detail?: unknown
  /** Headers the answer carries (`Allow`, `Retry-After`, `Connection: close`). */
  headers?: Record<string, string>
  cause?: unknown
}

/** A failure of a JSON API request, as the client sees it: a stable code, its status, a message for people. */
export class ApiError extends Error {
  readonly code: ApiErrorCode
  readonly status: number
  readonly detail: unknown
  readonly headers: Record<string, string>

  constructor(code: ApiErrorCode, message: string, opts: ApiErrorOptions = {}) {
    super(message, { cause: opts.cause })
    this.name = 'ApiError'
    this.code = code
    this.status = API_ERRORS[code]
    this.detail = opts.detail ?? null
    this.headers = opts.headers ?? {}
  }

  toBody(): ApiErrorBody {
    return { error: { code: this.code, message: this.message, detail: this.detail } }
  }
}

export const badRequest = (message: string, detail?: unknown): ApiError =>
  new ApiError('BAD_REQUEST', message, { detail })
export const notFound = (message: string): ApiError => new ApiError('NOT_FOUND', message)

/**
 * The one error handler of the JSON APIs: an ApiError is answered with its body, status and headers; anything else
 * is logged with `{ err }` (stack and cause) and answered 500 INTERNAL without details. Answers are never cached.
 * `log` is used when the request has no logger of its own yet (`c.var.log`).
 */
export function apiErrorHandler(log: Logger): ErrorHandler {
  return (err, c: Context) => {
    const reqLog = (c.get('log') as Logger | undefined) ?? log
    if (err instanceof ApiError) {
      reqLog[err.status >= 500 ? 'warn' : 'debug']({ err, code: err.code }, 'api error')
      return c.json(err.toBody(), err.status as ContentfulStatusCode, { ...err.headers, 'Cache-Control': 'no-store' })
    }
    reqLog.error({ err }, 'unhandled error')
    return c.json(new ApiError('INTERNAL', 'internal error').toBody(), 500, { 'Cache-Control': 'no-store' })
  }
}
