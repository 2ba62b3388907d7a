/** Errors of the control plane's JSON API: a stable code, an HTTP status and a message; the body is `{ error }`. */
export const API_ERRORS = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  SITE_EXISTS: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNAVAILABLE: 503,
} as const

export type ApiErrorCode = keyof typeof API_ERRORS

export class ApiError extends Error {
  readonly code: ApiErrorCode
  readonly status: number
  readonly headers: Record<string, string>

  constructor(code: ApiErrorCode, message: string, opts: { headers?: Record<string, string> } = {}) {
    super(message)
    this.name = 'ApiError'
    this.code = code
    this.status = API_ERRORS[code]
    this.headers = opts.headers ?? {}
  }

  toBody(): { error: { code: ApiErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } }
  }
}

export const badRequest = (message: string): ApiError => new ApiError('BAD_REQUEST', message)
export const notFound = (message: string): ApiError => new ApiError('NOT_FOUND', message)
