/**
 * OCI distribution error codes and the HTTP status each one carries by default
 * (distribution-spec § Error Codes; statuses follow distribution's register.go, except where noted).
 */
export const OCI_ERRORS = {
  BLOB_UNKNOWN: 404,
  // distribution answers 404; an invalid upload is a client mistake about the session's content, so 400 here,
  // and 416 (set per error) for a chunk out of order.
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
} as const

export type OciErrorCode = keyof typeof OCI_ERRORS

export interface OciErrorOptions {
  detail?: unknown
  /** Overrides the code's default status (a 416 for an out-of-order chunk, say). */
  status?: number
  headers?: Record<string, string>
  cause?: unknown
}

/** The one error a registry service throws; routes turn it into the spec's error JSON. */
export class OciError extends Error {
  readonly code: OciErrorCode
  readonly status: number
  readonly detail: unknown
  readonly headers: Record<string, string>

  constructor(code: OciErrorCode, message: string, opts: OciErrorOptions = {}) {
    super(message, { cause: opts.cause })
    this.name = 'OciError'
    this.code = code
    this.status = opts.status ?? OCI_ERRORS[code]
    this.detail = opts.detail ?? null
    this.headers = opts.headers ?? {}
  }

  toBody(): OciErrorBody {
    return { errors: [{ code: this.code, message: this.message, detail: this.detail }] }
  }
}

export interface OciErrorBody {
  errors: { code: string; message: string; detail: unknown }[]
}

/** The body of an unexpected failure: the spec's shape, with a code outside the table on purpose. */
export const INTERNAL_ERROR_BODY: OciErrorBody = {
  errors: [{ code: 'UNKNOWN', message: 'internal error', detail: null }],
}
