import type { FileHandle } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import type { Logger } from 'pino'
import type { ParsedDigest } from '../../oci/digest.ts'
import { OciError } from '../../oci/errors.ts'
import { vouches } from '../auth/access.ts'
import type { ByteRange } from '../../oci/range.ts'
import type { CacheOutcome, Metrics } from '../metrics.ts'
import type { BlobStore } from '../store/blob-store.ts'
import type { IndexDb } from '../store/index-db.ts'
import type { Target } from '../upstream/router.ts'
import type { UpstreamAuth } from '../upstream/upstream.ts'
import { Fill, type FillLease } from './fill.ts'

/** A blob ready to be answered: its size and how it was found; stream it, or release it. */
export interface BlobHandle {
  cache: CacheOutcome
  /**
   * Undefined only for a GET streamed through from an upstream that sent no Content-Length while the cap had no room
   * to keep it: the response then has no length either, and ends (or is cut) once the digest is checked.
   */
  size: number | undefined
  /** The bytes of `range` (the whole blob without one); the stream owns the handle from here. */
  stream(range?: ByteRange): Readable
  /** Lets go without streaming (HEAD, or an error before the body). */
  release(): void
}

export interface BlobServiceOptions {
  store: BlobStore
  index: IndexDb
  metrics: Metrics
  log: Logger
  now: () => number
  /** Resumes of a fill whose upstream body broke off. */
  maxResumes: number
  /** Check the digest of every whole read of an entry, holding back its last byte (CACHE_VERIFY_READS). */
  verifyReads?: boolean
}

/** Rounds of "confirm with the upstream (or re-hash), then look again" before giving up on a racing cache. */
const MAX_ROUNDS = 5

/**
 * Blobs through the cache: an entry when there is one, the running fill for the digest when there is one (one
 * upstream fetch however many clients ask), else a new fill. A digest is served through a repository only when the
 * upstream is known to hold it there (a link), so content cached for one repository does not leak to another; and
 * through a foreign upstream only when that upstream served the bytes itself (a source), so a registry that says
 * yes to every HEAD cannot read what the cache holds for the origin's private repositories.
 */
export class BlobService {
  readonly #opts: BlobServiceOptions
  /** Running fills by digest, then by the upstream (index key) they fetch from. */
  readonly #fills = new Map<string, Map<string, Fill>>()

  constructor(opts: BlobServiceOptions) {
    this.#opts = opts
  }

  get fillsInFlight(): number {
    let n = 0
    for (const fills of this.#fills.values()) n += fills.size
    return n
  }

  /** Finds or fetches a blob for GET (`head` false) or HEAD. Throws OciError / UpstreamError. */
  async open(t: Target, auth: UpstreamAuth, digest: ParsedDigest, head: boolean): Promise<BlobHandle> {
    const { store, index } = this.#opts
    const d = digest.digest
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const linked = index.hasLink(t.upstream.key, t.repository, d)
      // lookup and pin (or lease) happen in one tick: nothing can evict or close what was found in between
      const entry = store.entry(d)
      // cached bytes that this upstream never served (and a foreign one's word cannot vouch for) are a miss here
      if (entry && vouches(index, t, d)) {
        if (!linked) {
          await this.#confirm(t, auth, digest)
          continue
        }
        if (!head && entry.verifiedAt === null) {
          // not hashed since an unclean stop: hashed now, before a byte is served (dropped if it rotted); then look again
          await store.verify(d, 'first read')
          continue
        }
        const unpin = store.pin(d)
        if (head) {
          unpin()
          return { cache: 'hit', size: entry.size, stream: noBody, release: () => undefined }
        }
        const file = await store.openFile(d).catch((err: unknown) => {
          unpin()
          throw err
        })
        if (!file) {
          // the file went missing: the entry is gone now, so the next round fills it again
          unpin()
          continue
        }
        return this.#entryHandle(d, entry.size, file, unpin)
      }
      const running = this.#running(t, d)
      if (running) {
        if (!linked && !sameSource(running, t)) {
          await this.#confirm(t, auth, digest)
          continue
        }
        const lease = running.lease()
        try {
          return await this.#fillHandle(lease, 'coalesced', head)
        } catch (err) {
          // someone else's fill failed on their credentials: ours may still work, so try with a fill of our own
          if (err instanceof OciError && (err.code === 'UNAUTHORIZED' || err.code === 'DENIED') && round === 0) continue
          throw err
        }
      }
      if (head) {
        const size = await this.#confirm(t, auth, digest)
        return { cache: 'miss', size, stream: noBody, release: () => undefined }
      }
      const lease = this.#startFill(t, auth, digest).lease()
      return this.#fillHandle(lease, 'miss', head)
    }
    throw new OciError('BLOB_UNKNOWN', `blob ${d} kept changing in the cache while it was looked up; try again`)
  }

  /**
   * The running fill a request for `t` may read: one from its own upstream; for a wharf upstream, which vouches for
   * what it confirms, a fill from any upstream (its bytes are verified against the digest like every fill's).
   */
  #running(t: Target, digest: string): Fill | undefined {
    const fills = this.#fills.get(digest)
    if (!fills) return undefined
    const fill = fills.get(t.upstream.key) ?? (t.upstream.kind === 'wharf' ? fills.values().next().value : undefined)
    // a pass-through that already let go of its first bytes cannot serve a new reader: it gets a fill of its own
    return fill?.joinable ? fill : undefined
  }

  #entryHandle(digest: string, size: number, file: FileHandle, unpin: () => void): BlobHandle {
    const { store } = this.#opts
    return {
      cache: 'hit',
      size,
      stream: (range) => {
        store.touch(digest)
        // a whole read checks the digest as it goes and holds back the last byte until it matches (bit rot)
        const whole = this.#opts.verifyReads !== false && (!range || (range.start === 0 && range.end === size - 1))
        const s = whole ? store.verifiedStream(file, digest, size) : store.stream(file, range)
        s.once('close', unpin)
        return s
      },
      release: () => {
        unpin()
        file.close().catch(() => undefined)
      },
    }
  }

  async #fillHandle(lease: FillLease, cache: CacheOutcome, head: boolean): Promise<BlobHandle> {
    const fill = lease.fill
    try {
      const { size: announced } = await fill.ready
      if (head) {
        // a HEAD reads nothing: it must not hold a pass-through's bytes while it waits for the size
        lease.release()
        if (announced === undefined) await fill.verified
        return { cache, size: fill.size!, stream: noBody, release: () => undefined }
      }
      // without a Content-Length upstream, the size is known once the fill is verified, unless it passes through
      if (announced === undefined) await fill.streamable
      return {
        cache,
        size: fill.size,
        stream: (range) => lease.stream(range?.start ?? 0, range?.end),
        release: lease.release,
      }
    } catch (err) {
      lease.release()
      throw err
    }
  }

  #startFill(t: Target, auth: UpstreamAuth, digest: ParsedDigest): Fill {
    const { store, index, metrics, log, now } = this.#opts
    const d = digest.digest
    const what = `blob ${d} of ${t.repository}`
    const fill = new Fill({
      digest,
      store,
      source: { upstream: t.upstream.key, repository: t.repository },
      upstreamName: t.upstream.name,
      maxResumes: this.#opts.maxResumes,
      log: log.child({ component: 'fill', digest: d }),
      fetch: (offset, handle) =>
        t.upstream.request(
          {
            method: 'GET',
            path: `/v2/${t.repository}/blobs/${d}`,
            repository: t.repository,
            auth,
            notFound: 'BLOB_UNKNOWN',
            what,
            headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
          },
          async (res) => {
            // the upstream answered 2xx: it holds the digest in this repository
            if (offset === 0) index.link(t.upstream.key, t.repository, [d], now())
            await handle(res)
          },
        ),
      translate: (err) => t.upstream.translate(err, what),
      onBytes: (n) => metrics.bytesFromUpstream(t.upstream.name, n, t.clientName),
      onSettled: (f) => {
        const fills = this.#fills.get(d)
        if (fills?.get(t.upstream.key) !== f) return
        fills.delete(t.upstream.key)
        if (fills.size === 0) this.#fills.delete(d)
      },
    })
    const fills = this.#fills.get(d) ?? new Map<string, Fill>()
    fills.set(t.upstream.key, fill)
    this.#fills.set(d, fills)
    fill.verified.then(
      () => log.debug({ digest: d, size: fill.size }, 'fill verified'),
      (err: Error) => log.warn({ digest: d, written: fill.written, err }, 'fill failed'),
    )
    return fill
  }

  /** Asks the upstream whether it holds the digest in this repository (HEAD); links it and answers its size. */
  async #confirm(t: Target, auth: UpstreamAuth, digest: ParsedDigest): Promise<number> {
    const d = digest.digest
    return t.upstream.request(
      {
        method: 'HEAD',
        path: `/v2/${t.repository}/blobs/${d}`,
        repository: t.repository,
        auth,
        notFound: 'BLOB_UNKNOWN',
        what: `blob ${d} of ${t.repository}`,
      },
      async (res) => {
        await res.body.dump()
        const len = res.headers['content-length']
        this.#opts.index.link(t.upstream.key, t.repository, [d], this.#opts.now())
        if (typeof len !== 'string' || !/^\d+$/.test(len)) {
          // the HEAD said yes but not how big; the size of what is cached will do, when this upstream vouches for it
          const e = this.#opts.store.entry(d)
          if (e && vouches(this.#opts.index, t, d)) return e.size
          throw new OciError('BLOB_UNKNOWN', `upstream ${t.upstream.name} did not give the size of ${d}`)
        }
        return Number(len)
      },
    )
  }
}

function noBody(): never {
  throw new Error('a HEAD answer has no body')
}

function sameSource(fill: Fill, t: Target): boolean {
  return fill.source.upstream === t.upstream.key && fill.source.repository === t.repository
}
