import { noExtra, opt, pretty, type Command } from '../command.ts'
import { UsageError } from '../errors.ts'
import { bytes, percent, table } from '../format.ts'
import { BandwidthReport, type Counters } from '../../control-plane/schemas.ts'

const cols = (c: Counters) => [c.requests, c.hits, c.misses, percent(c.hitRatio), bytes(c.bytesServed), bytes(c.bytesFromUpstream), bytes(c.originEgressSaved)]
const COLS = ['REQUESTS', 'HITS', 'MISSES', 'HIT RATIO', 'SERVED', 'FROM UPSTREAM', 'ORIGIN SAVED']

export const reportCommand: Command = {
  name: 'report',
  usage:
    'wharf report [--from ISO] [--to ISO] [--granularity hour|day] [--site SITE] [--repository REPO] [--top N] [--format table|json|csv]',
  summary: 'bandwidth and hit ratio per site and repository',
  options: {
    from: { type: 'string' },
    to: { type: 'string' },
    granularity: { type: 'string' },
    site: { type: 'string' },
    repository: { type: 'string' },
    top: { type: 'string' },
    format: { type: 'string' },
  },
  async run(ctx) {
    noExtra(ctx, 0)
    const format = opt(ctx.values, 'format') ?? (ctx.json ? 'json' : 'table')
    if (!['table', 'json', 'csv'].includes(format)) throw new UsageError('--format must be table, json or csv')
    const q = new URLSearchParams()
    for (const k of ['from', 'to', 'granularity', 'site', 'repository', 'top']) {
      const v = opt(ctx.values, k)
      if (v !== undefined) q.set(k, v)
    }
    if (format === 'csv') {
      q.set('format', 'csv')
      const res = await ctx.api.call('GET', `/reports/bandwidth?${q}`, undefined, 'text/csv')
      return ctx.out(String(res.body ?? ''))
    }
    const r = await ctx.api.read(BandwidthReport, 'GET', `/reports/bandwidth?${q}`)
    if (format === 'json') return ctx.out(pretty(r))
    ctx.out(`bandwidth from ${r.from} to ${r.to}, per ${r.granularity}\n\n`)
    if (r.rows.length === 0) return ctx.out('no traffic reported in this range\n')
    ctx.out(table(['PERIOD', 'SITE', 'REPOSITORY', ...COLS], r.rows.map((x) => [x.period, x.site, x.repository, ...cols(x)])))
    ctx.out(`\nper site\n${table(['SITE', ...COLS], r.sites.map((x) => [x.site, ...cols(x)]))}`)
    ctx.out(`\ntop repositories\n${table(['REPOSITORY', ...COLS], r.topRepositories.map((x) => [x.repository, ...cols(x)]))}`)
  },
}
