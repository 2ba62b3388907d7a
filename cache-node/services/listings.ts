import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import { isUnavailable, UpstreamError } from '../errors.ts'
import type { CacheOutcome, Metrics } from '../metrics.ts'
import type { Target } from '../upstream/router.ts'
import type { UpstreamAuth } from '../upstream/upstream.ts'
import { readBody } from './single-flight.ts'

/** Largest tags list or referrers index passed through. */
const MAX_LISTING_BYTES = 4 * 1024 * 1024

export interface Listing {
  body: Buffer
  contentType: string
  /** The `Link` to the next page, rewritten to this cache's name for the repository. */
  link?: string
  /** Referrers: the filter the upstream applied. */
  filtersApplied?: string
  cache: CacheOutcome
}

/**
 * Tags lists and referrers: always asked of the upstream (they change as pushes happen), with the last answer for
 * each query kept in memory and served stale when the upstream cannot be reached.
 */
export class ListingService {
  readonly #last = new LRUCache<string, Omit<Listing, 'cache'>>({ max: 1000 })
  readonly #metrics: Metrics
  readonly #log: Logger

  constructor(opts: { metrics: Metrics; log: Logger }) {
    this.#metrics = opts.metrics
    this.#log = opts.log
  }

  /** `what` is `tags/list` or `referrers/<digest>`; `query` is passed on without `ns`. */
  async get(t: Target, auth: UpstreamAuth, what: string, query: URLSearchParams): Promise<Listing> {
    const q = new URLSearchParams(query)
    q.delete('ns')
    const qs = q.size > 0 ? `?${q}` : ''
    const key = `${t.upstream.key}|${t.repository}|${what}${qs}`
    const label = `${what} of ${t.repository}`
    try {
      const listing = await t.upstream.request(
        {
          method: 'GET',
          path: `/v2/${t.repository}/${what}${qs}`,
          repository: t.repository,
          auth,
          notFound: what === 'tags/list' ? 'NAME_UNKNOWN' : 'MANIFEST_UNKNOWN',
          what: label,
        },
        async (res) => {
          const raw = await readBody(res.body, MAX_LISTING_BYTES).catch((err: unknown) => {
            throw t.upstream.translate(err, label)
          })
          if (!raw)
            throw new UpstreamError(
              'UPSTREAM_INVALID',
              t.upstream.name,
              `upstream ${t.upstream.name} sent a ${label} larger than ${MAX_LISTING_BYTES} bytes`,
            )
          this.#metrics.bytesFromUpstream(t.upstream.name, raw.byteLength, t.clientName)
          const link = typeof res.headers.link === 'string' ? rewriteLink(res.headers.link, t, what) : undefined
          const applied = res.headers['oci-filters-applied']
          return {
            body: what === 'tags/list' ? renamed(raw, t) : raw,
            contentType: String(res.headers['content-type'] ?? 'application/json'),
            link,
            filtersApplied: typeof applied === 'string' ? applied : undefined,
          }
        },
      )
      this.#last.set(key, listing)
      return { ...listing, cache: 'miss' }
    } catch (err) {
      const last = isUnavailable(err) ? this.#last.get(key) : undefined
      if (!last) throw err
      this.#log.warn(
        { upstream: t.upstream.name, repository: t.repository, what, err },
        'upstream unavailable: serving a stale listing',
      )
      return { ...last, cache: 'stale' }
    }
  }
}

/** A tags list names the repository as the upstream knows it; the client asked by its own name. */
function renamed(raw: Buffer, t: Target): Buffer {
  if (t.repository === t.clientName) return raw
  try {
    const doc = JSON.parse(raw.toString('utf8')) as Record<string, unknown>
    return Buffer.from(JSON.stringify({ ...doc, name: t.clientName }))
  } catch {
    return raw
  }
}

/** `<url>; rel="next"` pointing at the upstream's path becomes the same page under this cache's path. */
function rewriteLink(link: string, t: Target, what: string): string | undefined {
  const m = /^\s*<([^>]*)>(.*)$/.exec(link)
  if (!m) return undefined
  let next: URL
  try {
    next = new URL(m[1]!, 'http://upstream.invalid')
  } catch {
    return undefined
  }
  if (t.ns) next.searchParams.set('ns', t.ns)
  const endpoint = what.split('/')[0]!
  return `</v2/${t.clientName}/${endpoint === 'tags' ? 'tags/list' : what}${next.search}>${m[2]}`
}
