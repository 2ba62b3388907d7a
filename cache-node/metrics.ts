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

type Labels = Record<string, string>

class Family {
  readonly values = new Map<string, { labels: Labels; value: number }>()
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
  ) {}

  add(labels: Labels, n: number): void {
    const key = JSON.stringify(labels)
    const v = this.values.get(key)
    if (v) v.value += n
    else this.values.set(key, { labels, value: n })
  }

  set(labels: Labels, n: number): void {
    this.values.set(JSON.stringify(labels), { labels, value: n })
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`]
    for (const { labels, value } of this.values.values()) {
      const l = Object.entries(labels)
        .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
        .join(',')
      lines.push(`${this.name}${l ? `{${l}}` : ''} ${value}`)
    }
    return lines.join('\n')
  }
}

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

/** The cache node's counters, rendered in the Prometheus text format at /metrics. */
export class Metrics {
  readonly #requests = new Family(
    'wharf_cache_requests_total',
    'Content requests (blobs, manifests, tags, referrers) by kind and cache outcome.',
    'counter',
  )
  readonly #hits = new Family('wharf_cache_hits_total', 'Requests answered from the cache.', 'counter')
  readonly #misses = new Family('wharf_cache_misses_total', 'Requests that went to the upstream.', 'counter')
  readonly #coalesced = new Family(
    'wharf_cache_coalesced_total',
    'Blob requests that joined a fill already running.',
    'counter',
  )
  readonly #stale = new Family(
    'wharf_cache_stale_total',
    'Manifests served stale because the upstream could not be reached.',
    'counter',
  )
  readonly #toClients = new Family('wharf_cache_bytes_to_clients_total', 'Body bytes sent to clients.', 'counter')
  readonly #fromUpstream = new Family(
    'wharf_cache_bytes_from_upstream_total',
    'Body bytes received from upstreams.',
    'counter',
  )
  readonly #upstreamErrors = new Family(
    'wharf_cache_upstream_errors_total',
    'Upstream failures seen by clients, by upstream and code.',
    'counter',
  )
  readonly #evictions = new Family(
    'wharf_cache_evictions_total',
    'Entries evicted to stay under the byte cap.',
    'counter',
  )
  readonly #evictedBytes = new Family(
    'wharf_cache_evicted_bytes_total',
    'Bytes evicted to stay under the byte cap.',
    'counter',
  )
  readonly #corrupt = new Family(
    'wharf_cache_corrupt_entries_total',
    'Entries dropped because their file no longer hashed to their digest, by what found them.',
    'counter',
  )
  readonly #scrubbed = new Family(
    'wharf_cache_scrubbed_bytes_total',
    'Bytes of cached files re-hashed by the background scrub.',
    'counter',
  )
  readonly #repoRequests = new Family(
    'wharf_cache_repository_requests_total',
    'Content requests per repository and cache outcome.',
    'counter',
  )
  readonly #repoBytes = new Family(
    'wharf_cache_repository_bytes_to_clients_total',
    'Body bytes sent to clients per repository.',
    'counter',
  )
  readonly #grants = new Family(
    'wharf_cache_grants_total',
    'Blob requests carrying a grant (redirected by the origin), by result.',
    'counter',
  )
  readonly #heartbeats = new Family(
    'wharf_cache_heartbeats_total',
    'Heartbeats sent to the control plane, by result.',
    'counter',
  )
  readonly #batches = new Family(
    'wharf_cache_metrics_batches_total',
    'Usage batches for the control plane, by event (created, delivered, dropped).',
    'counter',
  )
  readonly #siteFamilies = {
    joined: new Family(
      'wharf_cache_site_joined',
      '1 once this node holds a site identity from its control plane.',
      'gauge',
    ),
    outbox: new Family(
      'wharf_cache_metrics_outbox_batches',
      'Usage batches waiting for the control plane to acknowledge them.',
      'gauge',
    ),
    lastHeartbeat: new Family(
      'wharf_cache_last_heartbeat_timestamp_seconds',
      'When the control plane last acknowledged a heartbeat (0: never since start).',
      'gauge',
    ),
  }
  readonly #gaugeFamilies = {
    used: new Family('wharf_cache_disk_used_bytes', 'Bytes of cached entries on disk.', 'gauge'),
    max: new Family('wharf_cache_disk_max_bytes', 'The byte cap (CACHE_MAX_BYTES).', 'gauge'),
    entries: new Family('wharf_cache_entries', 'Cached blobs and manifests.', 'gauge'),
    fills: new Family('wharf_cache_fills_in_flight', 'Blob fills running now.', 'gauge'),
    reserved: new Family('wharf_cache_fill_reserved_bytes', 'Bytes reserved by fills in flight.', 'gauge'),
    active: new Family('wharf_cache_upstream_requests_active', 'Upstream requests in flight, by upstream.', 'gauge'),
    queued: new Family(
      'wharf_cache_upstream_requests_queued',
      'Upstream requests waiting for a slot (CACHE_UPSTREAM_CONCURRENCY).',
      'gauge',
    ),
  }
  readonly #repositories = new Set<string>()
  gauges: MetricsGauges | undefined
  /** Per-repository usage for the control plane (set only when one is configured). */
  usage: UsageSink | undefined

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
    this.#requests.add({ kind: r.kind, cache }, 1)
    if (r.cache === 'hit' || r.cache === 'stale') this.#hits.add({ kind: r.kind }, 1)
    else if (r.cache === 'miss' || r.cache === 'coalesced') this.#misses.add({ kind: r.kind }, 1)
    if (r.cache === 'coalesced') this.#coalesced.add({}, 1)
    if (r.cache === 'stale') this.#stale.add({}, 1)
    this.#toClients.add({}, r.bytes)
    if (r.repository !== undefined) {
      const repository = this.#repositoryLabel(r.repository)
      this.#repoRequests.add({ repository, cache }, 1)
      this.#repoBytes.add({ repository }, r.bytes)
    }
  }

  /** Body bytes received from an upstream for a repository (as the client named it). */
  bytesFromUpstream(upstream: string, n: number, repository?: string): void {
    this.#fromUpstream.add({ upstream }, n)
    if (repository !== undefined) this.usage?.fromUpstream(repository, n)
  }

  grant(result: 'accepted' | 'refused'): void {
    this.#grants.add({ result }, 1)
  }

  heartbeat(result: 'ok' | 'failed'): void {
    this.#heartbeats.add({ result }, 1)
  }

  batches(event: 'created' | 'delivered' | 'dropped', n: number): void {
    this.#batches.add({ event }, n)
  }

  upstreamError(upstream: string, code: string): void {
    this.#upstreamErrors.add({ upstream, code }, 1)
  }

  evicted(size: number): void {
    this.#evictions.add({}, 1)
    this.#evictedBytes.add({}, size)
  }

  corrupt(foundBy: string): void {
    this.#corrupt.add({ found_by: foundBy }, 1)
  }

  scrubbed(bytes: number): void {
    this.#scrubbed.add({}, bytes)
  }

  render(): string {
    const g = this.gauges
    if (g) {
      this.#gaugeFamilies.used.set({}, g.diskUsedBytes())
      this.#gaugeFamilies.max.set({}, g.diskMaxBytes())
      this.#gaugeFamilies.entries.set({}, g.entries())
      this.#gaugeFamilies.fills.set({}, g.fillsInFlight())
      this.#gaugeFamilies.reserved.set({}, g.reservedBytes())
      for (const u of g.upstreams()) {
        this.#gaugeFamilies.active.set({ upstream: u.name }, u.active)
        this.#gaugeFamilies.queued.set({ upstream: u.name }, u.queued)
      }
    }
    const site = g?.site?.()
    if (site) {
      this.#siteFamilies.joined.set({}, site.joined ? 1 : 0)
      this.#siteFamilies.outbox.set({}, site.outboxBatches)
      this.#siteFamilies.lastHeartbeat.set({}, site.lastHeartbeatAt ? Math.floor(site.lastHeartbeatAt / 1000) : 0)
    }
    for (const result of ['accepted', 'refused'])
      if (!this.#grants.values.has(JSON.stringify({ result }))) this.#grants.add({ result }, 0)
    // counters with no samples yet still show as 0, so dashboards and tests need not special-case a fresh node
    for (const f of [this.#coalesced, this.#stale, this.#toClients, this.#evictions, this.#evictedBytes, this.#scrubbed])
      if (f.values.size === 0) f.add({}, 0)
    const families = [
      this.#requests,
      this.#hits,
      this.#misses,
      this.#coalesced,
      this.#stale,
      this.#toClients,
      this.#fromUpstream,
      this.#upstreamErrors,
      this.#evictions,
      this.#evictedBytes,
      this.#corrupt,
      this.#scrubbed,
      ...Object.values(this.#gaugeFamilies),
      this.#grants,
      ...(site ? [this.#heartbeats, this.#batches, ...Object.values(this.#siteFamilies)] : []),
      this.#repoRequests,
      this.#repoBytes,
    ]
    return `${families.map((f) => f.render()).join('\n')}\n`
  }

  #repositoryLabel(name: string): string {
    if (this.#repositories.has(name)) return name
    if (this.#repositories.size >= MAX_REPOSITORY_SERIES) return '_other'
    this.#repositories.add(name)
    return name
  }
}
