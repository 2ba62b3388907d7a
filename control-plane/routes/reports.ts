import { Hono } from 'hono'
import type { ControlPlaneDeps } from '../deps.ts'
import { query } from '../http/body.ts'
import type { AppEnv } from '../http/env.ts'
import { BandwidthQuery } from '../schemas.ts'
import { BandwidthService } from '../services/bandwidth.ts'

/** `/reports/bandwidth` (admin): JSON, or CSV with `format=csv` or `Accept: text/csv`. */
export function reportRoutes(d: ControlPlaneDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>()

  app.get('/bandwidth', d.auth.only('admin'), query(BandwidthQuery), (c) => {
    const { format: asked, ...q } = c.req.valid('query')
    const format = asked ?? ((c.req.header('accept') ?? '').includes('text/csv') ? 'csv' : 'json')
    const report = d.bandwidth.report(q)
    if (format === 'json') return c.json(report)
    return c.body(BandwidthService.csv(report), 200, {
      'Content-Type': 'text/csv; charset=utf-8',
      'Content-Disposition': `attachment; filename="wharf-bandwidth-${report.from.slice(0, 13)}-${report.to.slice(0, 13)}.csv"`,
    })
  })

  return app
}
