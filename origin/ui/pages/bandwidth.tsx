import { raw } from 'hono/html'
import type { FC } from 'hono/jsx'
import type { BandwidthReport, Counters, SiteView } from '../../../control-plane/schemas.ts'
import { bytes } from '../format.tsx'
import { Layout, type PageContext } from '../layout.tsx'

export interface BandwidthForm {
  from: string
  to: string
  granularity: 'hour' | 'day'
  site: string
}

/** What the charts draw, per period of the report (summed over sites and repositories, as the report's totals are). */
export interface ChartData {
  periods: number[]
  served: number[]
  upstream: number[]
  saved: number[]
  hitRatio: (number | null)[]
  sites: { name: string; served: number[] }[]
}

const STEP_MS = { hour: 3_600_000, day: 86_400_000 } as const
/** Most points a chart is given; a longer range is drawn from the periods that have usage only. */
const MAX_POINTS = 2_000

/** The report's rows as series: one point per period of its range (zero where nothing was pulled). */
export function chartData(report: BandwidthReport): ChartData {
  const step = STEP_MS[report.granularity]
  const from = Date.parse(report.from)
  const to = Date.parse(report.to)
  const used = [...new Set(report.rows.map((r) => Date.parse(r.period)))].sort((a, b) => a - b)
  const periods: number[] = []
  if ((to - from) / step <= MAX_POINTS) for (let t = from; t < to; t += step) periods.push(t)
  else periods.push(...used)
  for (const t of used) if (!periods.includes(t)) periods.push(t)
  periods.sort((a, b) => a - b)
  const index = new Map(periods.map((p, i) => [p, i]))
  const zero = () => periods.map(() => 0)
  const served = zero()
  const upstream = zero()
  const saved = zero()
  const hits = zero()
  const misses = zero()
  const bySite = new Map<string, number[]>()
  for (const r of report.rows) {
    const i = index.get(Date.parse(r.period))!
    served[i]! += r.bytesServed
    upstream[i]! += r.bytesFromUpstream
    saved[i]! += r.originEgressSaved
    hits[i]! += r.hits
    misses[i]! += r.misses
    let site = bySite.get(r.site)
    if (!site) bySite.set(r.site, (site = zero()))
    site[i]! += r.bytesServed
  }
  return {
    periods: periods.map((p) => Math.floor(p / 1000)),
    served,
    upstream,
    saved,
    hitRatio: hits.map((h, i) => (h + misses[i]! === 0 ? null : h / (h + misses[i]!))),
    sites: [...bySite].map(([name, series]) => ({ name, served: series })),
  }
}

const ratio = (r: number | null) => (r === null ? '—' : `${(r * 100).toFixed(1)} %`)

const CounterCells: FC<{ c: Counters }> = ({ c }) => (
  <>
    <td class="num">{c.requests}</td>
    <td class="num">{ratio(c.hitRatio)}</td>
    <td class="num" data-bytes={c.bytesServed}>
      {bytes(c.bytesServed)}
    </td>
    <td class="num" data-bytes={c.bytesFromUpstream}>
      {bytes(c.bytesFromUpstream)}
    </td>
    <td class="num" data-bytes={c.originEgressSaved}>
      {bytes(c.originEgressSaved)}
    </td>
  </>
)

const Head: FC<{ first: string }> = ({ first }) => (
  <thead>
    <tr>
      <th scope="col">{first}</th>
      <th scope="col" class="num">
        Requests
      </th>
      <th scope="col" class="num">
        Hit ratio
      </th>
      <th scope="col" class="num">
        Served to clients
      </th>
      <th scope="col" class="num">
        From upstream
      </th>
      <th scope="col" class="num">
        Origin egress saved
      </th>
    </tr>
  </thead>
)

export const BandwidthPage: FC<{
  ctx: PageContext
  form: BandwidthForm
  report: BandwidthReport
  sites: SiteView[]
  csvHref: string
}> = (p) => {
  const data = chartData(p.report)
  const total = p.report.sites.reduce(
    (a, s) => ({
      served: a.served + s.bytesServed,
      upstream: a.upstream + s.bytesFromUpstream,
      saved: a.saved + s.originEgressSaved,
      hits: a.hits + s.hits,
      misses: a.misses + s.misses,
    }),
    { served: 0, upstream: 0, saved: 0, hits: 0, misses: 0 },
  )
  return (
    <Layout ctx={p.ctx} title="Bandwidth">
      <h1>Bandwidth</h1>
      <p class="muted">
        From {p.report.from} to {p.report.to}, by {p.report.granularity}. Cache nodes report their counts every few
        seconds; a pull shows here within about a minute.
      </p>
      <form method="get" action="/bandwidth" class="filters">
        <label>
          From
          <input type="date" name="from" value={p.form.from} />
        </label>
        <label>
          To
          <input type="date" name="to" value={p.form.to} />
        </label>
        <label>
          Granularity
          <select name="granularity">
            <option value="day" selected={p.form.granularity === 'day'}>
              day
            </option>
            <option value="hour" selected={p.form.granularity === 'hour'}>
              hour
            </option>
          </select>
        </label>
        <label>
          Site
          <select name="site">
            <option value="">all sites</option>
            {p.sites.map((s) => (
              <option value={s.name} selected={p.form.site === s.name}>
                {s.name}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Show</button>
        <a href={p.csvHref} download>
          Download CSV
        </a>
      </form>
      <div class="totals" id="totals">
        <div>
          Served to clients <strong data-bytes={total.served}>{bytes(total.served)}</strong>
        </div>
        <div>
          From upstream <strong data-bytes={total.upstream}>{bytes(total.upstream)}</strong>
        </div>
        <div>
          Origin egress saved <strong data-bytes={total.saved}>{bytes(total.saved)}</strong>
        </div>
        <div>
          Hit ratio{' '}
          <strong>{ratio(total.hits + total.misses === 0 ? null : total.hits / (total.hits + total.misses))}</strong>
        </div>
      </div>
      {/* the charts' numbers, as data for /static/charts.js (a JSON block is not run, so the CSP allows it) */}
      <script type="application/json" id="chart-data">
        {raw(JSON.stringify(data).replace(/</g, '\\u003c'))}
      </script>
      <div class="chart-title">Bytes per {p.report.granularity}</div>
      <div class="chart" id="chart-bytes" role="img" aria-label="Bytes served, from upstream and saved per period">
        <noscript>Charts need JavaScript; the tables below hold the same numbers.</noscript>
      </div>
      <div class="chart-title">Served to clients, per site</div>
      <div class="chart" id="chart-sites" role="img" aria-label="Bytes served per site per period" />
      <div class="chart-title">Hit ratio</div>
      <div class="chart" id="chart-ratio" role="img" aria-label="Hit ratio per period" />

      <h2>Sites</h2>
      <div class="table-wrap">
        <table class="list" id="site-totals">
          <Head first="Site" />
          <tbody>
            {p.report.sites.map((s) => (
              <tr data-site={s.site}>
                <th scope="row">{s.site}</th>
                <CounterCells c={s} />
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2>Top repositories</h2>
      <div class="table-wrap">
        <table class="list" id="top-repositories">
          <Head first="Repository" />
          <tbody>
            {p.report.topRepositories.map((r) => (
              <tr data-repository={r.repository}>
                <th scope="row">{r.repository}</th>
                <CounterCells c={r} />
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <link rel="stylesheet" href="/static/uPlot.min.css" />
      <script src="/static/uPlot.iife.min.js" defer></script>
      <script src="/static/charts.js" defer></script>
    </Layout>
  )
}
