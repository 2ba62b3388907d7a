import { badRequest } from '../../lib/api-error.ts'
import type { UsageStore, UsageSum } from '../storage/usage-store.ts'
import { toCsv } from './csv.ts'
import type { BandwidthQuery, BandwidthReport, Counters } from '../schemas.ts'
import { SITE_ID_RE } from './secrets.ts'
import type { SitesService } from './sites.ts'

const HOUR_MS = 3_600_000
const DAY_MS = 24 * HOUR_MS
/** Default range: the 7 days before `to`. */
export const DEFAULT_RANGE_MS = 7 * DAY_MS

export type Granularity = BandwidthReport['granularity']
export type Row = BandwidthReport['rows'][number]
export type { BandwidthReport, Counters } from '../schemas.ts'

export const CSV_COLUMNS = [
  'period',
  'site',
  'repository',
  'requests',
  'hits',
  'misses',
  'hitRatio',
  'bytesServed',
  'bytesFromUpstream',
  'originEgressSaved',
] as const

/** Bandwidth and hit-ratio reports from the usage counters (UTC hours and days). */
export class BandwidthService {
  readonly #usage: UsageStore
  readonly #sites: SitesService
  readonly #now: () => number

  constructor(usage: UsageStore, sites: SitesService, now: () => number) {
    this.#usage = usage
    this.#sites = sites
    this.#now = now
  }

  report(q: Omit<BandwidthQuery, 'format'>): BandwidthReport {
    // counters are kept per hour: `to` is rounded up (so "now" includes the hour under way), `from` down
    const to = ceilHour(q.to === undefined ? this.#now() + 1 : q.to)
    const from = floorHour(q.from === undefined ? to - DEFAULT_RANGE_MS : q.from)
    if (from >= to) throw badRequest(`from (${iso(from)}) must be before to (${iso(to)}) once rounded to whole hours`)
    const { granularity, top } = q
    let siteId: string | undefined
    if (q.site !== undefined && q.site !== '') {
      // a removed site's counters stay, under its id
      siteId = this.#sites.find(q.site)?.id ?? (SITE_ID_RE.test(q.site) ? q.site : undefined)
      if (!siteId) throw badRequest(`site "${q.site}" is neither a site's name nor a site id`)
    }
    const sums = this.#usage.sum({
      from,
      to,
      bucketMs: granularity === 'hour' ? HOUR_MS : DAY_MS,
      siteId,
      repository: q.repository === '' ? undefined : q.repository,
    })
    const names = new Map<string, string>()
    const siteName = (id: string) => {
      let n = names.get(id)
      if (n === undefined) {
        n = this.#sites.find(id)?.name ?? id
        names.set(id, n)
      }
      return n
    }
    const rows: Row[] = sums.map((s) => ({
      period: iso(s.period),
      site: siteName(s.siteId),
      repository: s.repository,
      ...counters([s]),
    }))
    const bySite = group(sums, (s) => s.siteId)
    const byRepo = group(sums, (s) => s.repository)
    const sites = [...bySite].map(([id, list]) => ({ site: siteName(id), ...counters(list) }))
    sites.sort((a, b) => a.site.localeCompare(b.site))
    const topRepositories = [...byRepo]
      .map(([repository, list]) => ({ repository, ...counters(list) }))
      .sort((a, b) => b.bytesServed - a.bytesServed || b.requests - a.requests || a.repository.localeCompare(b.repository))
      .slice(0, top)
    return { from: iso(from), to: iso(to), granularity, rows, sites, topRepositories }
  }

  static csv(report: BandwidthReport): string {
    return toCsv(CSV_COLUMNS, report.rows)
  }
}

function counters(list: UsageSum[]): Counters {
  let requests = 0
  let hits = 0
  let misses = 0
  let bytesServed = 0
  let bytesFromUpstream = 0
  let originEgressSaved = 0
  for (const s of list) {
    requests += s.requests
    hits += s.hits
    misses += s.misses
    bytesServed += s.bytesToClients
    bytesFromUpstream += s.bytesFromUpstream
    originEgressSaved += s.originEgressSaved
  }
  return {
    requests,
    hits,
    misses,
    hitRatio: hits + misses === 0 ? null : hits / (hits + misses),
    bytesServed,
    bytesFromUpstream,
    originEgressSaved,
  }
}

function group<K>(list: UsageSum[], key: (s: UsageSum) => K): Map<K, UsageSum[]> {
  const m = new Map<K, UsageSum[]>()
  for (const s of list) {
    const k = key(s)
    const g = m.get(k)
    if (g) g.push(s)
    else m.set(k, [s])
  }
  return m
}

const floorHour = (ms: number) => Math.floor(ms / HOUR_MS) * HOUR_MS
const ceilHour = (ms: number) => Math.ceil(ms / HOUR_MS) * HOUR_MS
const iso = (ms: number) => new Date(ms).toISOString()
