import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import { digestOf, parseDigest, type ParsedDigest } from '../../oci/digest.ts'
import { OciError } from '../../oci/errors.ts'
import { MAX_MANIFEST_BYTES, parseManifest, requiredBlobs } from '../../oci/manifest.ts'
import { MANIFEST_MEDIA_TYPES, MEDIA_TYPES, bareMediaType } from '../../oci/media-types.ts'
import type { Reference } from '../../oci/reference.ts'
import { isUnavailable, UpstreamError } from '../errors.ts'
import type { CacheOutcome, Metrics } from '../metrics.ts'
import type { BlobStore } from '../store/blob-store.ts'
import type { IndexDb, TagRow } from '../store/index-db.ts'
import type { Target } from '../upstream/router.ts'
import type { UpstreamAuth, UpstreamResponse } from '../upstream/upstream.ts'
import { vouches } from '../auth/access.ts'
import { readBody, SingleFlight } from './single-flight.ts'

/** What the cache asks upstreams for: the four modern manifest types, whatever the client sent. */
export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerManifestList,
  MEDIA_TYPES.dockerManifest,
].join(', ')

export interface ManifestResult {
  digest: string
  mediaType: string
  bytes: Buffer
  cache: CacheOutcome
}

export interface ManifestServiceOptions {
  store: BlobStore
  index: IndexDb
  metrics: Metrics
  log: Logger
  now: () => number
  /** A tag is revalidated with its upstream at most this often. */
  tagTtlMs: number
  /** Bytes of manifests kept in memory. */
  memoryBytes: number
}

type Manifest = { digest: string; mediaType: string; bytes: Buffer }

/**
 * Manifests through the cache. By digest they are immutable entries like blobs. By tag, the digest a tag resolved
 * to is kept with the time it was checked: within CACHE_TAG_TTL it is served without asking; after it, a HEAD asks
 * the upstream whether the tag moved and a GET follows only when it did; when the upstream cannot be reached the
 * last known manifest is served stale. Hot manifests stay in memory.
 */
export class ManifestService {
  readonly #opts: ManifestServiceOptions
  readonly #memory: LRUCache<string, { bytes: Buffer; mediaType: string }>
  readonly #flights = new SingleFlight<ManifestResult>()

  constructor(opts: ManifestServiceOptions) {
    this.#opts = opts
    this.#memory = new LRUCache({
      maxSize: Math.max(opts.memoryBytes, 1),
      sizeCalculation: (v) => Math.max(v.bytes.byteLength, 1),
    })
  }

  /** Drops a manifest from memory (its entry was evicted). */
  forget(digest: string): void {
    this.#memory.delete(digest)
  }

  async get(t: Target, auth: UpstreamAuth, ref: Reference): Promise<ManifestResult> {
    return ref.kind === 'digest' ? this.#byDigest(t, auth, ref.digest) : this.#byTag(t, auth, ref.tag)
  }

  async #byDigest(t: Target, auth: UpstreamAuth, digest: ParsedDigest): Promise<ManifestResult> {
    const d = digest.digest
    // bytes another upstream served are served through a foreign one only once it served them too (a HEAD is no proof)
    const local = vouches(this.#opts.index, t, d) ? await this.#local(d) : undefined
    if (local) {
      if (!this.#opts.index.hasLink(t.upstream.key, t.repository, d)) await this.#confirm(t, auth, d)
      return { ...local, cache: 'hit' }
    }
    const { value, joined } = await this.#flights.run(`${t.upstream.key}|${t.repository}|@${d}`, async () => ({
      ...(await this.#fetch(t, auth, d, digest)),
      cache: 'miss' as const,
    }))
    return joined ? { ...value, cache: 'coalesced' } : value
  }

  async #byTag(t: Target, auth: UpstreamAuth, tag: string): Promise<ManifestResult> {
    const { index, now, tagTtlMs } = this.#opts
    const row = index.tag(t.upstream.key, t.repository, tag)
    if (row && now() - row.checkedAt < tagTtlMs) {
      const local = await this.#local(row.digest)
      if (local) return { ...local, cache: 'hit' }
      // fresh, but the manifest itself was evicted: fetch it by the digest the tag points at
      return { ...(await this.#fetch(t, auth, row.digest, parseDigest(row.digest))), cache: 'miss' }
    }
    const { value, joined } = await this.#flights.run(`${t.upstream.key}|${t.repository}|:${tag}`, () =>
      this.#revalidate(t, auth, tag, row),
    )
    return joined && value.cache === 'miss' ? { ...value, cache: 'coalesced' } : value
  }

  async #revalidate(t: Target, auth: UpstreamAuth, tag: string, row: TagRow | undefined): Promise<ManifestResult> {
    const { index, now, log } = this.#opts
    try {
      if (row) {
        const current = await this.#head(t, auth, tag)
        if (current === row.digest) {
          index.tagChecked(t.upstream.key, t.repository, tag, now())
          const local = await this.#local(row.digest)
          if (local) return { ...local, cache: 'hit' }
        }
      }
      const m = await this.#fetch(t, auth, tag)
      index.putTag(t.upstream.key, t.repository, tag, { digest: m.digest, mediaType: m.mediaType, checkedAt: now() })
      return { ...m, cache: 'miss' }
    } catch (err) {
      if (row && isUnavailable(err)) {
        const local = await this.#local(row.digest)
        if (local) {
          log.warn(
            {
              upstream: t.upstream.name,
              repository: t.repository,
              tag,
              digest: row.digest,
              err,
            },
            'upstream unavailable: serving a stale tag',
          )
          return { ...local, cache: 'stale' }
        }
      }
      if (row && err instanceof OciError && (err.code === 'MANIFEST_UNKNOWN' || err.code === 'NAME_UNKNOWN')) {
        index.deleteTag(t.upstream.key, t.repository, tag)
      }
      throw err
    }
  }

  /** A cached manifest, from memory or disk; a read counts as a use for the LRU. */
  async #local(digest: string): Promise<Manifest | undefined> {
    const { store, log } = this.#opts
    const mem = this.#memory.get(digest)
    if (mem) {
      store.touch(digest)
      return { digest, ...mem }
    }
    const entry = store.entry(digest)
    if (!entry?.mediaType) return undefined
    const bytes = await store.readBytes(digest)
    if (!bytes || bytes.byteLength !== entry.size) {
      // gone or damaged behind the index's back: forget it, and fetch it again
      store.drop(digest)
      return undefined
    }
    // small enough to check on every read from disk (memory keeps what checked out): a rotted file is fetched again
    if (digestOf(bytes, parseDigest(digest).algorithm) !== digest) {
      log.error({ digest }, 'cached manifest does not match its digest; dropped')
      store.dropCorrupt(digest, 'read')
      return undefined
    }
    store.touch(digest)
    this.#memory.set(digest, { bytes, mediaType: entry.mediaType })
    return { digest, bytes, mediaType: entry.mediaType }
  }

  /** HEAD of a tag upstream: the digest it points at now, if the upstream says. */
  async #head(t: Target, auth: UpstreamAuth, tag: string): Promise<string | undefined> {
    return t.upstream.request(
      {
        method: 'HEAD',
        path: `/v2/${t.repository}/manifests/${tag}`,
        repository: t.repository,
        auth,
        notFound: 'MANIFEST_UNKNOWN',
        what: `manifest ${t.repository}:${tag}`,
        headers: { accept: MANIFEST_ACCEPT },
      },
      async (res) => {
        await res.body.dump()
        const d = res.headers['docker-content-digest']
        return typeof d === 'string' ? d : undefined
      },
    )
  }

  /** HEAD of a digest upstream, to learn that this repository holds it (before serving a cached copy through it). */
  async #confirm(t: Target, auth: UpstreamAuth, digest: string): Promise<void> {
    await t.upstream.request(
      {
        method: 'HEAD',
        path: `/v2/${t.repository}/manifests/${digest}`,
        repository: t.repository,
        auth,
        notFound: 'MANIFEST_UNKNOWN',
        what: `manifest ${t.repository}@${digest}`,
        headers: { accept: MANIFEST_ACCEPT },
      },
      async (res) => {
        await res.body.dump()
        this.#opts.index.link(t.upstream.key, t.repository, [digest], this.#opts.now())
      },
    )
  }

  /** GET of a manifest upstream, verified against the digest asked for (or the one the upstream states), then kept. */
  async #fetch(t: Target, auth: UpstreamAuth, reference: string, expected?: ParsedDigest): Promise<Manifest> {
    const what = expected ? `manifest ${t.repository}@${reference}` : `manifest ${t.repository}:${reference}`
    const m = await t.upstream.request(
      {
        method: 'GET',
        path: `/v2/${t.repository}/manifests/${reference}`,
        repository: t.repository,
        auth,
        notFound: 'MANIFEST_UNKNOWN',
        what,
        headers: { accept: MANIFEST_ACCEPT },
      },
      async (res) => {
        const bytes = await readBody(res.body, MAX_MANIFEST_BYTES).catch((err: unknown) => {
          throw t.upstream.translate(err, what)
        })
        if (!bytes)
          throw new UpstreamError(
            'UPSTREAM_INVALID',
            t.upstream.name,
            `upstream ${t.upstream.name} sent a ${what} larger than ${MAX_MANIFEST_BYTES} bytes`,
          )
        this.#opts.metrics.bytesFromUpstream(t.upstream.name, bytes.byteLength, t.clientName)
        return { bytes, mediaType: manifestType(res, bytes), digest: verifiedDigest(t, res, bytes, expected, what) }
      },
    )
    const { store, index, now, log } = this.#opts
    try {
      await store.put({ digest: m.digest, mediaType: m.mediaType, source: t.upstream.key }, m.bytes)
    } catch (err) {
      log.error({ err, digest: m.digest }, 'could not keep a manifest; it was served but not cached')
    }
    this.#memory.set(m.digest, { bytes: m.bytes, mediaType: m.mediaType })
    index.link(t.upstream.key, t.repository, [m.digest, ...referenced(m.bytes, m.mediaType)], now())
    return m
  }
}

function verifiedDigest(
  t: Target,
  res: UpstreamResponse,
  bytes: Buffer,
  expected: ParsedDigest | undefined,
  what: string,
): string {
  const stated = res.headers['docker-content-digest']
  let want = expected
  if (!want && typeof stated === 'string') {
    try {
      want = parseDigest(stated)
    } catch {
      // an unusable header: our own sha256 names the manifest
    }
  }
  const digest = want ? digestOf(bytes, want.algorithm) : digestOf(bytes)
  if (want && digest !== want.digest) {
    throw new UpstreamError(
      'UPSTREAM_INVALID',
      t.upstream.name,
      `upstream ${t.upstream.name} sent a ${what} that hashes to ${digest}, not ${want.digest}`,
      {
        detail: { expected: want.digest, found: digest },
      },
    )
  }
  return digest
}

/** The media type to keep: the upstream's Content-Type when it is a manifest type, else the body's own field. */
function manifestType(res: UpstreamResponse, bytes: Buffer): string {
  const header = bareMediaType(String(res.headers['content-type'] ?? ''))
  if (MANIFEST_MEDIA_TYPES.has(header)) return header
  try {
    const field = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType
    if (typeof field === 'string' && field) return field
  } catch {
    // not JSON: keep what the upstream said
  }
  return header || MEDIA_TYPES.ociManifest
}

/**
 * Digests a manifest makes its repository hold: config and distributable layers, or an index's manifests. A
 * registry (the origin included) accepts a manifest only when its repository holds these, so they are linked
 * at once: pulls of the image need no confirmation, and still work from the cache when the upstream is down.
 */
function referenced(bytes: Buffer, mediaType: string): string[] {
  try {
    const m = parseManifest(bytes, mediaType)
    return m.isIndex ? m.manifests.map((d) => d.digest) : requiredBlobs(m).map((d) => d.digest)
  } catch {
    return []
  }
}
