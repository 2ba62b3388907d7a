import type { FileHandle } from 'node:fs/promises'
import { open } from 'node:fs/promises'
import { Readable } from 'node:stream'
import type { Logger } from 'pino'
import { StreamHasher, type ParsedDigest } from '../../oci/digest.ts'
import { OciError } from '../../oci/errors.ts'
import { UpstreamError } from '../errors.ts'
import type { BlobStore, Reservation } from '../store/blob-store.ts'
import type { UpstreamResponse } from '../upstream/upstream.ts'

/** Reads from a fill's file in chunks of at most this many bytes (as the entry store reads). */
const READ_CHUNK = 256 * 1024
/** A fill of unknown size holds room under the cap in steps of this much as its bytes arrive. */
const GROW_STEP = 1024 * 1024
/**
 * Bytes a pass-through fill (one the cap has no room for) holds in memory for its readers: the upstream is read no
 * faster than its slowest reader takes them, so memory stays flat whatever the blob's size.
 */
export const PASS_THROUGH_WINDOW = 4 * 1024 * 1024

export interface FillOptions {
  digest: ParsedDigest
  store: BlobStore
  /** Where the fill came from: a request for this repository of this upstream (by index key) started it. */
  source: { upstream: string; repository: string }
  /** The upstream's URL origin, for messages. */
  upstreamName: string
  /**
   * Asks the upstream for the blob from `offset` (a Range request when > 0) and hands a 2xx response to `handle`,
   * with the upstream's concurrency slot held until `handle` settles; failures arrive as translated errors.
   */
  fetch: (offset: number, handle: (res: UpstreamResponse) => Promise<void>) => Promise<void>
  /** Turns a failure while reading the body into the error clients see (the upstream's translation). */
  translate: (err: unknown) => Error
  /** How many times a body that broke off may be resumed from where it stopped. */
  maxResumes: number
  log: Logger
  /** Counts bytes as they arrive from the upstream. */
  onBytes?: (n: number) => void
  /** The fill's outcome is settled and it must no longer be found by new requests. */
  onSettled: (fill: Fill) => void
}

type State = 'running' | 'verified' | 'failed'

/** Where a reader (or a lease about to become one) is: a pass-through fill keeps the bytes from the lowest. */
interface Cursor {
  pos: number
}

/**
 * One upstream fetch of one blob, shared by every request for it. The bytes go to a temporary file as they arrive,
 * hashed on the way; readers attach at any time, read the growing file from any offset and wait for more. Only
 * after the digest and size check out does the file become an entry, and only then does any reader send the last
 * byte of its response: a fill that fails (a broken or corrupt upstream body) ends every reader's stream with an
 * error, so a client never receives a complete response with wrong bytes. A failed fill's file is gone once its last
 * reader let go.
 *
 * The file only ever holds room reserved under the cap: the declared size before the first byte, or, without a
 * Content-Length, room grown as bytes arrive. When there is no room (a blob larger than the cap, or a cap full of
 * blobs being read and other fills), the fill turns into a pass-through: the bytes that follow go to a bounded
 * in-memory window that the readers attached to it read, nothing is kept, and the digest is still verified before
 * any reader sends its last byte. A pass-through that has let go of bytes cannot take new readers from the start
 * (`joinable`), and one that has no readers left is abandoned.
 */
export class Fill {
  readonly digest: string
  readonly source: { upstream: string; repository: string }
  /** Resolves with the blob's size (undefined when the upstream did not say) once the upstream answered 200. */
  readonly ready: Promise<{ size: number | undefined }>
  /** Resolves when the bytes are verified; rejects with the fill's error. */
  readonly verified: Promise<void>
  /** Resolves once a response can be started: the size is known (announced or verified), or the fill passes through. */
  readonly streamable: Promise<void>
  #state: State = 'running'
  #error: Error | undefined
  #size: number | undefined
  #written = 0
  #fh: FileHandle | undefined
  #reservation: Reservation | undefined
  #committed = false
  /** Bytes at the start of the blob that are in the file; a pass-through's later bytes are in the window. */
  #fileEnd = 0
  #passThrough = false
  #window: { start: number; buf: Buffer }[] = []
  #windowBytes = 0
  readonly #cursors = new Set<Cursor>()
  #consumed: { promise: Promise<void>; resolve: () => void } = deferred()
  #abandoned = false
  #streamable = deferred()
  #leases = 0
  #finished = false
  #closed = false
  #wake: { promise: Promise<void>; resolve: () => void } = deferred()
  readonly #opts: FillOptions
  readonly #tmp: string
  #resolveReady!: (v: { size: number | undefined }) => void
  #rejectReady!: (err: Error) => void
  #readyDone = false

  constructor(opts: FillOptions) {
    this.#opts = opts
    this.digest = opts.digest.digest
    this.source = opts.source
    this.#tmp = opts.store.tmpPath()
    this.ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve
      this.#rejectReady = reject
    })
    const verified = deferred()
    this.verified = verified.promise
    this.streamable = this.#streamable.promise
    // nobody may be listening on these promises when the fill fails: never an unhandled rejection
    this.ready.catch(() => undefined)
    this.verified.catch(() => undefined)
    this.streamable.catch(() => undefined)
    void this.#run().then(verified.resolve, (err: Error) => {
      verified.reject(err)
      this.#streamable.reject(err)
    })
  }

  get state(): State {
    return this.#state
  }

  get error(): Error | undefined {
    return this.#error
  }

  get written(): number {
    return this.#written
  }

  /** The size once known: from the upstream's Content-Length, else the verified byte count. */
  get size(): number | undefined {
    return this.#size ?? (this.#state === 'verified' ? this.#written : undefined)
  }

  /** Whether the fill streams its bytes through without keeping them (the cap had no room). */
  get passThrough(): boolean {
    return this.#passThrough
  }

  /** Whether a new reader can still have every byte from the start (a pass-through lets go of what was read). */
  get joinable(): boolean {
    return !this.#passThrough || (this.#window[0]?.start ?? this.#written) === this.#fileEnd
  }

  /**
   * Holds the fill's file open (and the digest pinned, and the bytes from the start kept) for a reader-to-be; take
   * it in the same tick as the lookup that found the fill (and saw it `joinable`), and either turn it into a stream
   * or release it.
   */
  lease(): FillLease {
    this.#leases++
    const unpin = this.#opts.store.pin(this.digest)
    const cursor: Cursor = { pos: 0 }
    this.#cursors.add(cursor)
    let held = true
    const release = () => {
      if (!held) return
      held = false
      unpin()
      this.#cursors.delete(cursor)
      this.consumed()
      this.#leases--
      // nobody is left to stream a pass-through to: it would fetch the rest for nothing
      if (this.#leases === 0 && this.#passThrough && this.#state === 'running') this.#abandon()
      this.#maybeClose()
    }
    return {
      fill: this,
      stream: (start, endInclusive) => {
        cursor.pos = start
        this.consumed()
        return new FillReader(this, cursor, start, endInclusive, release)
      },
      release,
    }
  }

  /** Bytes of a response ending before `endExclusive` that may be sent now: its last byte waits for verification. */
  sendable(endExclusive: number): number {
    const limit = Math.min(this.#written, endExclusive)
    if (this.#state === 'verified') return limit
    return limit === endExclusive ? limit - 1 : limit
  }

  /** Resolves at the next change: more bytes, verification or failure. */
  changed(): Promise<void> {
    return this.#wake.promise
  }

  /** Reads bytes at `position` (before `written`): from the file, or from a pass-through's window. */
  async read(buf: Buffer, position: number): Promise<number> {
    if (position < this.#fileEnd) {
      const n = Math.min(buf.byteLength, this.#fileEnd - position)
      const { bytesRead } = await this.#fh!.read(buf, 0, n, position)
      return bytesRead
    }
    for (const c of this.#window) {
      if (position >= c.start + c.buf.byteLength) continue
      if (position < c.start) break
      return c.buf.copy(buf, 0, position - c.start)
    }
    throw new Error(`bytes at ${position} of a pass-through fill were already let go`)
  }

  /** A reader moved on: a pass-through lets go of the bytes every reader is past, and reads on from upstream. */
  consumed(): void {
    if (!this.#passThrough) return
    let low = Infinity
    for (const c of this.#cursors) low = Math.min(low, c.pos)
    while (this.#window.length > 0) {
      const c = this.#window[0]!
      if (c.start + c.buf.byteLength > low) break
      this.#window.shift()
      this.#windowBytes -= c.buf.byteLength
    }
    const wake = this.#consumed
    this.#consumed = deferred()
    wake.resolve()
  }

  #notify(): void {
    const wake = this.#wake
    this.#wake = deferred()
    wake.resolve()
  }

  /** No room under the cap (any more): what follows streams through to the readers and is not kept. */
  #goThrough(reason: string): void {
    if (this.#passThrough) return
    this.#passThrough = true
    this.#opts.log.warn(
      { digest: this.digest, size: this.#size, kept: this.#fileEnd, reason },
      'no room under the cap: streaming through, not keeping',
    )
    this.#streamable.resolve()
    if (this.#leases === 0) this.#abandon()
  }

  #abandon(): void {
    this.#abandoned = true
    const wake = this.#consumed
    this.#consumed = deferred()
    wake.resolve()
  }

  /** Makes sure the next `n` bytes fit in the file's reservation, growing it; false when there is no more room. */
  async #room(n: number): Promise<boolean> {
    const r = this.#reservation!
    const need = this.#written + n - r.bytes
    if (need <= 0) return true
    if (await r.grow(Math.max(need, GROW_STEP))) return true
    return need < GROW_STEP && r.grow(need)
  }

  /** Adds bytes to a pass-through's window once it has room, so memory stays bounded by the slowest reader. */
  async #toWindow(data: Buffer): Promise<void> {
    while (this.#windowBytes >= PASS_THROUGH_WINDOW && !this.#abandoned) {
      this.consumed()
      if (this.#windowBytes < PASS_THROUGH_WINDOW) break
      await this.#consumed.promise
    }
    if (this.#abandoned) throw new FillAbandoned()
    this.#window.push({ start: this.#written, buf: data })
    this.#windowBytes += data.byteLength
    if (this.#cursors.size === 0) this.consumed()
  }

  async #run(): Promise<void> {
    const { store, log } = this.#opts
    const hasher = new StreamHasher(this.#opts.digest.algorithm)
    try {
      for (let resumes = 0; ; resumes++) {
        try {
          await this.#opts.fetch(this.#written, async (res) => {
            let skip = 0
            if (!this.#readyDone) {
              if (res.status !== 200) {
                throw new UpstreamError(
                  'UPSTREAM_INVALID',
                  this.#opts.upstreamName,
                  `upstream ${this.#opts.upstreamName} answered ${res.status} to a plain GET of ${this.digest}`,
                )
              }
              this.#size = contentLength(res)
              // room before the first byte is written: the declared size, or room grown as bytes arrive
              this.#reservation = await local(store.reserve(this.#size ?? 0))
              if (this.#reservation) this.#fh = await local(open(this.#tmp, 'wx+'))
              else this.#goThrough(`${this.#size} bytes do not fit under the cap`)
              this.#readyDone = true
              this.#resolveReady({ size: this.#size })
              if (this.#size !== undefined) this.#streamable.resolve()
            } else {
              skip = this.#resumeOffset(res)
            }
            for await (const chunk of res.body as AsyncIterable<Buffer>) {
              if (this.#abandoned) throw new FillAbandoned()
              let data = chunk
              if (skip > 0) {
                const drop = Math.min(skip, data.byteLength)
                skip -= drop
                data = data.subarray(drop)
                if (data.byteLength === 0) continue
              }
              if (this.#size !== undefined && this.#written + data.byteLength > this.#size) {
                throw new UpstreamError(
                  'UPSTREAM_INVALID',
                  this.#opts.upstreamName,
                  `upstream ${this.#opts.upstreamName} sent more than the ${this.#size} bytes it announced for ${this.digest}`,
                )
              }
              hasher.update(data)
              if (!this.#passThrough && !(await local(this.#room(data.byteLength))))
                this.#goThrough(`the cap has no room past ${this.#written} bytes`)
              if (this.#passThrough) {
                await this.#toWindow(data)
              } else {
                await local(writeAll(this.#fh!, data, this.#written))
                this.#fileEnd += data.byteLength
              }
              this.#written += data.byteLength
              this.#opts.onBytes?.(data.byteLength)
              this.#notify()
            }
          })
          break
        } catch (err) {
          // before the upstream answered there is nothing to resume: the request itself failed (and was retried)
          const resumable =
            this.#readyDone &&
            !(err instanceof UpstreamError && err.code === 'UPSTREAM_INVALID') &&
            !(err instanceof OciError) &&
            !(err instanceof StoreError) &&
            !(err instanceof FillAbandoned)
          if (resumable && resumes < this.#opts.maxResumes) {
            log.warn({ digest: this.digest, written: this.#written, err }, 'upstream body broke off; resuming')
            continue
          }
          throw err
        }
      }
      if (this.#size !== undefined && this.#written !== this.#size) {
        throw new UpstreamError(
          'UPSTREAM_INVALID',
          this.#opts.upstreamName,
          `upstream ${this.#opts.upstreamName} sent ${this.#written} of the ${this.#size} bytes it announced for ${this.digest}`,
        )
      }
      const found = hasher.digest()
      if (found !== this.digest) {
        throw new UpstreamError(
          'UPSTREAM_INVALID',
          this.#opts.upstreamName,
          `upstream ${this.#opts.upstreamName} sent bytes that hash to ${found}, not ${this.digest}`,
          {
            detail: { expected: this.digest, found },
          },
        )
      }
      if (!this.#passThrough) {
        try {
          // readers keep reading through the open handle, whatever becomes of the path
          this.#committed = await store.commit(
            this.#tmp,
            { digest: this.digest, size: this.#written, mediaType: null, source: this.source.upstream },
            this.#reservation,
          )
        } catch (err) {
          log.error({ err, digest: this.digest }, 'could not keep a verified blob; it was served but not cached')
        }
      }
      // the last bytes go out after the commit: a client holding the whole blob can count on the entry existing
      this.#state = 'verified'
      this.#streamable.resolve()
      this.#notify()
    } catch (err) {
      // the cache's own disk failing is a 500 of ours, not the upstream's fault
      const error = err instanceof StoreError ? err : this.#opts.translate(err)
      this.#error = error
      this.#state = 'failed'
      // out of the single-flight map before anyone hears of the failure, so a retry starts a fresh fill
      this.#opts.onSettled(this)
      this.#notify()
      if (!this.#readyDone) this.#rejectReady(error)
      throw error
    } finally {
      this.#finished = true
      this.#opts.onSettled(this)
      this.#maybeClose()
    }
  }

  /** Where a resumed response starts: 206 must continue at our offset; a 200 repeats what we have (skipped). */
  #resumeOffset(res: UpstreamResponse): number {
    if (res.status === 200) return this.#written
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''))
    if (
      res.status !== 206 ||
      !m ||
      Number(m[1]) !== this.#written ||
      (m[3] !== '*' && this.#size !== undefined && Number(m[3]) !== this.#size)
    ) {
      throw new UpstreamError(
        'UPSTREAM_INVALID',
        this.#opts.upstreamName,
        `upstream ${this.#opts.upstreamName} answered a resume of ${this.digest} at ${this.#written} with ${res.status} ${res.headers['content-range'] ?? ''}`,
      )
    }
    return 0
  }

  /**
   * Once the fill is done and no reader holds it: closes the file, removes it unless it became the entry, and only
   * then gives back its room under the cap (an open file keeps its disk space, whatever became of its path).
   */
  #maybeClose(): void {
    if (!this.#finished || this.#leases > 0 || this.#closed) return
    this.#closed = true
    const fh = this.#fh
    this.#fh = undefined
    this.#window = []
    this.#windowBytes = 0
    const reservation = this.#reservation
    void (async () => {
      await fh?.close().catch(() => undefined)
      if (fh && !this.#committed) await this.#opts.store.discard(this.#tmp).catch(() => undefined)
      reservation?.release()
    })()
  }
}

/** A reader's hold on a fill: turn it into a stream (which releases it when it ends) or release it. */
export interface FillLease {
  fill: Fill
  /** A stream of bytes `start`..`endInclusive` (to the end when undefined); it owns the lease from here. */
  stream(start: number, endInclusive: number | undefined): Readable
  release(): void
}

/**
 * Streams part of a fill as its bytes arrive; errors (and so cuts the response) if the fill fails. With all but its
 * last byte sent, it sets that byte aside, so a pass-through can let go of its window while the digest is checked.
 */
class FillReader extends Readable {
  readonly #fill: Fill
  readonly #cursor: Cursor
  readonly #end: number | undefined
  readonly #release: () => void
  #pos: number
  #tail: Buffer | undefined
  #busy = false

  constructor(fill: Fill, cursor: Cursor, start: number, endInclusive: number | undefined, release: () => void) {
    super({ highWaterMark: READ_CHUNK })
    this.#fill = fill
    this.#cursor = cursor
    this.#pos = start
    this.#end = endInclusive === undefined ? undefined : endInclusive + 1
    this.#release = release
  }

  override _read(): void {
    void this.#pump()
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#release()
    cb(err)
  }

  async #pump(): Promise<void> {
    if (this.#busy) return
    this.#busy = true
    try {
      for (;;) {
        if (this.destroyed) return
        const fill = this.#fill
        if (fill.state === 'failed') {
          this.destroy(fill.error ?? new Error('fill failed'))
          return
        }
        const size = fill.size
        const end = Math.min(this.#end ?? Infinity, size ?? Infinity)
        if (fill.state === 'verified' && this.#pos >= end) {
          this.push(null)
          return
        }
        if (this.#tail) {
          if (fill.state !== 'verified') {
            await fill.changed()
            continue
          }
          const tail = this.#tail
          this.#tail = undefined
          this.#pos += tail.byteLength
          if (!this.push(tail)) return
          continue
        }
        const limit = fill.sendable(end)
        if (this.#pos < limit) {
          const buf = Buffer.allocUnsafe(Math.min(limit - this.#pos, READ_CHUNK))
          const n = await fill.read(buf, this.#pos)
          if (this.destroyed) return
          if (n <= 0) throw new Error(`short read of a fill at ${this.#pos}`)
          this.#pos += n
          this.#cursor.pos = this.#pos
          fill.consumed()
          if (!this.push(n === buf.byteLength ? buf : buf.subarray(0, n))) return
          continue
        }
        if (fill.passThrough && this.#pos === end - 1 && fill.written >= end) {
          // only the last byte is left, waiting for the digest: keep it here, not in the fill's window
          const tail = Buffer.allocUnsafe(1)
          if ((await fill.read(tail, this.#pos)) !== 1) throw new Error(`short read of a fill at ${this.#pos}`)
          this.#tail = tail
          this.#cursor.pos = Infinity
          fill.consumed()
          continue
        }
        await fill.changed()
      }
    } catch (err) {
      this.destroy(err as Error)
    } finally {
      this.#busy = false
    }
  }
}

/** A pass-through fill that lost its last reader: it stops reading from upstream. */
class FillAbandoned extends Error {
  constructor() {
    super('every reader of a pass-through fill went away')
    this.name = 'FillAbandoned'
  }
}

/** A failure of the cache's own disk while filling (no space, say). */
class StoreError extends Error {
  constructor(cause: unknown) {
    super(`cache store: ${(cause as Error | undefined)?.message ?? String(cause)}`, { cause })
    this.name = 'StoreError'
  }
}

async function local<T>(p: Promise<T>): Promise<T> {
  try {
    return await p
  } catch (err) {
    throw new StoreError(err)
  }
}

/** Writes all of `data` at `position` (a write may take fewer bytes than offered). */
async function writeAll(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  for (let off = 0; off < data.byteLength;) {
    const { bytesWritten } = await fh.write(data, off, data.byteLength - off, position + off)
    off += bytesWritten
  }
}

function contentLength(res: UpstreamResponse): number | undefined {
  const v = res.headers['content-length']
  return typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined
}

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } {
  let resolve!: () => void
  let reject!: (err: Error) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}
