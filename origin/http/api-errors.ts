/** Errors of the /api/v0 JSON API: a stable code, an HTTP status and a message; the body is `{ error: {...} }`. */
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
  PAYLOAD_TOO_LARGE: 413,
  TOO_MANY_REQUESTS: 429,
  UNAVAILABLE: 503,
} as const

export type ApiErrorCode = keyof typeof API_ERRORS

export class ApiError extends Error {
  readonly code: ApiErrorCode
  readonly status: number
  readonly detail: unknown
  readonly headers: Record<string, string>

  constructor(code: ApiErrorCode, message: string, opts: { detail?: unknown; headers?: Record<string, string> } = {}) {
    super(message)
    this.name = 'ApiError'
    this.code = code
    this.status = API_ERRORS[code]
    this.detail = opts.detail ?? null
    this.headers = opts.headers ?? {}
  }

  toBody() {
    return { error: { code: this.code, message: this.message, detail: this.detail } }
  }
}
