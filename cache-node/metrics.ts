import { Counter, Gauge } from 'prom-client'
import { ProgramMetrics } from '../lib/metrics.ts'

/** How a request for content was answered. */
export type CacheOutcome = 'hit' | 'miss' | 'coalesced' | 'stale'

/**
 * The `cache` label of a content request: its cache outcome, or, for one answered without content, why: `auth`
 * (401 or 403: a challenge or a refusal, as every first request of docker and podman gets), `not_found` (404),
 * `refused` (another 4xx) or `error` (a 5xx, or no answer).
 */
export type RequestOutcome = CacheOutcome | 'auth' | 'not_found' | 'refused' | 'error'

export function requestOutcome(cache: CacheOutcome | undefined, status: number): RequestOutcome {
  if (cache !== undefined) return cache
  if (status === 401 || status === 403) return 'auth'
  if (status === 404) return 'not_found'
  return status >= 400 && status < 500 ? 'refused' : 'error'
}

/** Repositories beyond this many share the label `repository="_other"`, so a scan cannot blow up the series. */
export const MAX_REPOSITORY_SERIES = 1000

/** Where per-repository usage goes besides the Prometheus series (the control plane's counters). */
export interface UsageSink {
  request(r: { repository: string; cache: CacheOutcome | undefined; bytes: number }): void
  fromUpstream(repository: string, n: number): void
}

/** The node's standing with its control plane, read when /metrics is scraped. */
export interface SiteGauges {
  joined: boolean
  /** Usage batches not yet acknowledged by the control plane. */
  outboxBatches: number
  /** When the last heartbeat was acknowledged, in milliseconds since the epoch. */
  lastHeartbeatAt: number | undefined
}

/** Gauges read when /metrics is scraped. */
export interface MetricsGauges {
  diskUsedBytes(): number
  diskMaxBytes(): number
  entries(): number
  fillsInFlight(): number
  reservedBytes(): number
  upstreams(): { name: string; active: number; queued: number }[]
  /** Only with a control plane. */
  site?(): SiteGauges
}

type Label = 'kind' | 'cache' | 'upstream' | 'code' | 'found_by' | 'repository' | 'result' | 'event'

/**
 * The cache node's series, in the Prometheus text format at /metrics (prom-client, on this node's own registry
 * beside the process and HTTP series of ProgramMetrics). Gauges are read when /metrics is scraped.
 */
export class Metrics extends ProgramMetrics {
  readonly #counter = <L extends Label>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers: [this.registry] })
  readonly #gauge = (name: string, help: string, read: (g: Gauge) => void, labelNames: readonly Label[] = []) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        read(this)
      },
    })

  readonly #requests = this.#counter(
    'wharf_cache_requests_total',
    'Content requests (blobs, manifests, tags, referrers) by kind and cache outcome.',
    ['kind', 'cache'],
  )
  readonly #hits = this.#counter('wharf_cache_hits_total', 'Requests answered from the cache.', ['kind'])
  readonly #misses = this.#counter('wharf_cache_misses_total', 'Requests that went to the upstream.', ['kind'])
  readonly #coalesced = this.#counter(
    'wharf_cache_coalesced_total',
    'Blob requests that joined a fill already running.',
  )
  readonly #stale = this.#counter(
    'wharf_cache_stale_total',
    'Manifests served stale because the upstream could not be reached.',
  )
  readonly #toClients = this.#counter('wharf_cache_bytes_to_clients_total', 'Body bytes sent to clients.')
  readonly #fromUpstream = this.#counter(
    'wharf_cache_bytes_from_upstream_total',
    'Body bytes received from upstreams.',
    ['upstream'],
  )
  readonly #upstreamErrors = this.#counter(
    'wharf_cache_upstream_errors_total',
    'Upstream failures seen by clients, by upstream and code.',
    ['upstream', 'code'],
  )
  readonly #evictions = this.#counter('wharf_cache_evictions_total', 'Entries evicted to stay under the byte cap.')
  readonly #evictedBytes = this.#counter('wharf_cache_evicted_bytes_total', 'Bytes evicted to stay under the byte cap.')
  readonly #corrupt = this.#counter(
    'wharf_cache_corrupt_entries_total',
    'Entries dropped because their file no longer hashed to their digest, by what found them.',
    ['found_by'],
  )
  readonly #scrubbed = this.#counter(
    'wharf_cache_scrubbed_bytes_total',
    'Bytes of cached files re-hashed by the background scrub.',
  )
  /** The gauges read when /metrics is scraped. */
  readonly scraped: Gauge[] = [
    this.#gauge('wharf_cache_disk_used_bytes', 'Bytes of cached entries on disk.', (g) =>
      this.#read(g, (x) => x.diskUsedBytes()),
    ),
    this.#gauge('wharf_cache_disk_max_bytes', 'The byte cap (CACHE_MAX_BYTES).', (g) =>
      this.#read(g, (x) => x.diskMaxBytes()),
    ),
    this.#gauge('wharf_cache_entries', 'Cached blobs and manifests.', (g) => this.#read(g, (x) => x.entries())),
    this.#gauge('wharf_cache_fills_in_flight', 'Blob fills running now.', (g) =>
      this.#read(g, (x) => x.fillsInFlight()),
    ),
    this.#gauge('wharf_cache_fill_reserved_bytes', 'Bytes reserved by fills in flight.', (g) =>
      this.#read(g, (x) => x.reservedBytes()),
    ),
    this.#gauge(
      'wharf_cache_upstream_requests_active',
      'Upstream requests in flight, by upstream.',
      (g) => {
        for (const u of this.gauges?.upstreams() ?? []) g.set({ upstream: u.name }, u.active)
      },
      ['upstream'],
    ),
    this.#gauge(
      'wharf_cache_upstream_requests_queued',
      'Upstream requests waiting for a slot (CACHE_UPSTREAM_CONCURRENCY).',
      (g) => {
        for (const u of this.gauges?.upstreams() ?? []) g.set({ upstream: u.name }, u.queued)
      },
      ['upstream'],
    ),
  ]
  readonly #grants = this.#counter(
    'wharf_cache_grants_total',
    'Blob requests carrying a grant (redirected by the origin), by result.',
    ['result'],
  )
  #site: SiteSeries | undefined
  readonly #repoRequests = this.#counter(
    'wharf_cache_repository_requests_total',
    'Content requests per repository and cache outcome.',
    ['repository', 'cache'],
  )
  readonly #repoBytes = this.#counter(
    'wharf_cache_repository_bytes_to_clients_total',
    'Body bytes sent to clients per repository.',
    ['repository'],
  )
  readonly #repositories = new Set<string>()
  #gaugeReaders: MetricsGauges | undefined
  /** Per-repository usage for the control plane (set only when one is configured). */
  usage: UsageSink | undefined

  constructor() {
    super('cache-node')
    // counters with no samples yet still show as 0, so dashboards and tests need not special-case a fresh node
    for (const result of ['accepted', 'refused']) this.#grants.inc({ result }, 0)
  }

  get gauges(): MetricsGauges | undefined {
    return this.#gaugeReaders
  }

  /** Gauges read when /metrics is scraped; with `site`, the control plane's series appear too. */
  set gauges(g: MetricsGauges | undefined) {
    this.#gaugeReaders = g
    if (g?.site && !this.#site) this.#site = this.#siteSeries()
  }

  /** One finished content request. */
  request(r: {
    kind: string
    cache: CacheOutcome | undefined
    status: number
    repository: string | undefined
    bytes: number
  }): void {
    if (r.repository !== undefined) this.usage?.request({ repository: r.repository, cache: r.cache, bytes: r.bytes })
    const cache = requestOutcome(r.cache, r.status)
    this.#requests.inc({ kind: r.kind, cache })
    if (r.cache === 'hit' || r.cache === 'stale') this.#hits.inc({ kind: r.kind })
    else if (r.cache === 'miss' || r.cache === 'coalesced') this.#misses.inc({ kind: r.kind })
    if (r.cache === 'coalesced') this.#coalesced.inc()
    if (r.cache === 'stale') this.#stale.inc()
    this.#toClients.inc(r.bytes)
    if (r.repository !== undefined) {
      const repository = this.#repositoryLabel(r.repository)
      this.#repoRequests.inc({ repository, cache })
      this.#repoBytes.inc({ repository }, r.bytes)
    }
  }

  /** Body bytes received from an upstream for a repository (as the client named it). */
  bytesFromUpstream(upstream: string, n: number, repository?: string): void {
    this.#fromUpstream.inc({ upstream }, n)
    if (repository !== undefined) this.usage?.fromUpstream(repository, n)
  }

  grant(result: 'accepted' | 'refused'): void {
    this.#grants.inc({ result })
  }

  heartbeat(result: 'ok' | 'failed'): void {
    this.#site?.heartbeats.inc({ result })
  }

  batches(event: 'created' | 'delivered' | 'dropped', n: number): void {
    this.#site?.batches.inc({ event }, n)
  }

  upstreamError(upstream: string, code: string): void {
    this.#upstreamErrors.inc({ upstream, code })
  }

  evicted(size: number): void {
    this.#evictions.inc()
    this.#evictedBytes.inc(size)
  }

  corrupt(foundBy: string): void {
    this.#corrupt.inc({ found_by: foundBy })
  }

  scrubbed(bytes: number): void {
    this.#scrubbed.inc(bytes)
  }

  #read(g: Gauge, read: (x: MetricsGauges) => number): void {
    if (this.gauges) g.set(read(this.gauges))
  }

  #siteSeries(): SiteSeries {
    const site = () => this.gauges?.site?.()
    return {
      heartbeats: this.#counter('wharf_cache_heartbeats_total', 'Heartbeats sent to the control plane, by result.', [
        'result',
      ]),
      batches: this.#counter(
        'wharf_cache_metrics_batches_total',
        'Usage batches for the control plane, by event (created, delivered, dropped).',
        ['event'],
      ),
      gauges: [
        this.#gauge(
          'wharf_cache_site_joined',
          '1 once this node holds a site identity from its control plane.',
          (g) => {
            const s = site()
            if (s) g.set(s.joined ? 1 : 0)
          },
        ),
        this.#gauge(
          'wharf_cache_metrics_outbox_batches',
          'Usage batches waiting for the control plane to acknowledge them.',
          (g) => {
            const s = site()
            if (s) g.set(s.outboxBatches)
          },
        ),
        this.#gauge(
          'wharf_cache_last_heartbeat_timestamp_seconds',
          'When the control plane last acknowledged a heartbeat (0: never since start).',
          (g) => {
            const s = site()
            if (s) g.set(s.lastHeartbeatAt ? Math.floor(s.lastHeartbeatAt / 1000) : 0)
          },
        ),
      ],
    }
  }

  #repositoryLabel(name: string): string {
    if (this.#repositories.has(name)) return name
    if (this.#repositories.size >= MAX_REPOSITORY_SERIES) return '_other'
    this.#repositories.add(name)
    return name
  }
}

interface SiteSeries {
  heartbeats: Counter<Label>
  batches: Counter<Label>
  gauges: Gauge[]
}
