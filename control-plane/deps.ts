import type { Logger } from 'pino'
import type { OriginKeys } from '../lib/origin-keys.ts'
import type { ControlPlaneConfig } from './config.ts'
import type { ReadinessCheck } from '../lib/health.ts'
import type { Auth } from './http/auth.ts'
import type { ControlPlaneMetrics } from './prometheus.ts'
import type { AssignmentsService } from './services/assignments.ts'
import type { BandwidthService } from './services/bandwidth.ts'
import type { HealthService } from './services/health.ts'
import type { JoinService } from './services/join.ts'
import type { MetricsService } from './services/metrics.ts'
import type { NetworksService } from './services/networks.ts'
import type { PlacementService } from './services/placement.ts'
import type { SitesService } from './services/sites.ts'
import type { Db } from './storage/db.ts'

/** What the control plane's routes use; built by createDeps in app.ts. */
export interface ControlPlaneDeps {
  config: Readonly<ControlPlaneConfig>
  log: Logger
  db: Db
  keys: OriginKeys
  auth: Auth
  sites: SitesService
  health: HealthService
  join: JoinService
  assignments: AssignmentsService
  networks: NetworksService
  placement: PlacementService
  metrics: MetricsService
  /** The Prometheus series at /metrics. */
  prometheus: ControlPlaneMetrics
  /** What /readyz asks: the database, the data disk, the origin. */
  readiness: ReadinessCheck[]
  bandwidth: BandwidthService
  now: () => number
  /** Stops the timers and closes the database. */
  close(): Promise<void>
}
