import { Counter, Gauge } from 'prom-client'
import { ProgramMetrics } from '../lib/metrics.ts'
import type { HealthState } from './storage/sites-store.ts'

const HEALTH_STATES: readonly HealthState[] = ['up', 'down', 'unknown']

/** The control plane's Prometheus series, beside the process and HTTP ones of ProgramMetrics. */
export class ControlPlaneMetrics extends ProgramMetrics {
  readonly #assignments = new Counter({
    name: 'wharf_control_plane_assignments_total',
    help: 'Placement answers (POST /api/v0/assignments/resolve), by the rule that decided them.',
    labelNames: ['rule'] as const,
    registers: [this.registry],
  })
  readonly #batches = new Counter({
    name: 'wharf_control_plane_report_batches_total',
    help: 'Usage batches received from cache nodes, by result (counted, or a duplicate already counted).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  })
  readonly #entries = new Counter({
    name: 'wharf_control_plane_report_entries_total',
    help: 'Per-repository, per-hour usage entries counted from cache nodes.',
    registers: [this.registry],
  })

  /** `siteStates` is read when /metrics is scraped. */
  constructor(siteStates: () => readonly HealthState[]) {
    super('control-plane')
    new Gauge({
      name: 'wharf_control_plane_sites',
      help: 'Cache sites by health state (up, down, unknown: no heartbeat yet).',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        const counts = new Map<HealthState, number>(HEALTH_STATES.map((s) => [s, 0]))
        for (const s of siteStates()) counts.set(s, (counts.get(s) ?? 0) + 1)
        for (const [state, n] of counts) this.set({ state }, n)
      },
    })
    for (const result of ['counted', 'duplicate']) this.#batches.inc({ result }, 0)
  }

  assignment(rule: string): void {
    this.#assignments.inc({ rule })
  }

  reportBatch(duplicate: boolean, entries: number): void {
    this.#batches.inc({ result: duplicate ? 'duplicate' : 'counted' })
    if (!duplicate) this.#entries.inc(entries)
  }
}
