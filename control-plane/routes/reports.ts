import { Hono } from 'hono'
import type { ControlPlaneDeps } from '../deps.ts'
import { badRequest } from '../errors.ts'
import type { AppEnv } from '../http/env.ts'
import { BandwidthService } from '../services/bandwidth.ts'

/** `/reports/bandwidth` (admin): JSON, or CSV with `format=csv` or `Accept: text/csv`. */
export function reportRoutes(d: ControlPlaneDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>()

  app.get('/bandwidth', (c) => {
    d.auth.allow(c, 'admin')
    const q = c.req.query()
    const format = q.format ?? ((c.req.header('accept') ?? '').includes('text/csv') ? 'csv' : 'json')
    if (format !== 'json' && format !== 'csv') throw badRequest('format must be json or csv')
    const report = d.bandwidth.report(q)
    if (format === 'json') return c.json(report)
    return c.body(BandwidthService.csv(report), 200, {
      'Content-Type': 'text/csv; charset=utf-8',
      'Content-Disposition': `attachment; filename="wharf-bandwidth-${report.from.slice(0, 13)}-${report.to.slice(0, 13)}.csv"`,
    })
  })

  return app
}
