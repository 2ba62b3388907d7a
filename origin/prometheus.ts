import { Counter, Gauge } from 'prom-client'
import { ProgramMetrics } from '../lib/metrics.ts'

/** Reasons a login fails (services/auth.ts LoginFailure); anything else is counted as `other`. */
const LOGIN_FAILURES = ['invalid_credentials', 'rate_limited'] as const

/** The origin's Prometheus series, beside the process, HTTP and SQLite ones of ProgramMetrics. */
export class OriginMetrics extends ProgramMetrics {
  readonly #uploads = new Gauge({
    name: 'wharf_origin_uploads_in_flight',
    help: 'Upload requests (POST, PATCH, PUT under /v2/<name>/blobs/uploads/) whose body is being received now.',
    registers: [this.registry],
  })
  readonly #tokens = new Counter({
    name: 'wharf_origin_tokens_issued_total',
    help: 'Registry bearer tokens issued by /auth/token (its 200 answers).',
    registers: [this.registry],
  })
  readonly #failedLogins = new Counter({
    name: 'wharf_origin_failed_logins_total',
    help: 'Failed logins (token endpoint, basic auth, POST /api/v0/login), by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  })

  constructor() {
    super('origin')
    for (const reason of LOGIN_FAILURES) this.#failedLogins.inc({ reason }, 0)
  }

  /** Whether a request is an upload that streams a body (counted in flight from start to close). */
  static isUpload(method: string, path: string): boolean {
    return method !== 'GET' && method !== 'HEAD' && method !== 'DELETE' && /^\/v2\/.+\/blobs\/uploads\/?/.test(path)
  }

  uploadStarted(): void {
    this.#uploads.inc()
  }

  uploadEnded(): void {
    this.#uploads.dec()
  }

  tokenIssued(): void {
    this.#tokens.inc()
  }

  /** An audit event: failed logins are counted by reason. */
  event(e: { action: string; outcome?: 'success' | 'failure'; detail?: Record<string, unknown> | null }): void {
    if (e.action !== 'login' || e.outcome !== 'failure') return
    const reason = e.detail?.reason
    this.#failedLogins.inc({ reason: LOGIN_FAILURES.find((r) => r === reason) ?? 'other' })
  }
}
