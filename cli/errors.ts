/** A mistake in how the command was typed: exit code 2, with a pointer to `wharf help`. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

/** The control plane (or the origin's token service) refused or failed: exit code 1. */
export class ApiCallError extends Error {
  override readonly name = 'ApiCallError'
  readonly status: number
  readonly code: string | undefined

  constructor(message: string, status: number, code?: string) {
    super(message)
    this.status = status
    this.code = code
  }
}
