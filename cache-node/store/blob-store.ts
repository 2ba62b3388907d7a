import type { ReadStream } from 'node:fs'
import { rm, stat, writeFile, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream'
import type { Logger } from 'pino'
import { CasStore, fsyncPath, type ByteRange } from '../../lib/cas-store.ts'
import { parseDigest, StreamHasher } from '../../oci/digest.ts'
import type { Entry, IndexDb } from './index-db.ts'

export interface BlobStoreOptions {
  /** The data folder: files go to `blobs/`, fills in progress to `tmp/`. */
  dir: string
  index: IndexDb
  /** The byte cap on entries (CACHE_MAX_BYTES). */
  maxBytes: number
  /** fsync a file before it becomes an entry, so a power cut never leaves an entry with wrong bytes. */
  fsync: boolean
  now: () => number
  log: Logger
  /** Called for every entry evicted to make room. */
  onEvict?: (digest: string, size: number) => void
  /** Called for every entry dropped because its file no longer hashes to its digest. */
  onCorrupt?: (digest: string, size: number, foundBy: 'read' | 'scrub' | 'first read') => void
}

/** Written at a clean stop, removed at start: its absence at start means the last run did not stop cleanly. */
export const CLEAN_STOP_FILE = 'clean-stop'
/** Reads of a file being re-hashed (scrub, first read after an unclean stop). */
const VERIFY_CHUNK = 1024 * 1024

/** Room held for a fill in flight until its bytes become an entry or are dropped. */
export interface Reservation {
  readonly bytes: number
  /** Holds `more` bytes besides (evicting as `reserve` does); false, holding nothing more, when there is no room. */
  grow(more: number): Promise<boolean>
  release(): void
}

/** Content to keep as an entry: its digest, its media type (manifests) and the upstream (index key) that served it. */
export interface NewEntry {
  digest: string
  mediaType: string | null
  source: string
}

/** What became of a `put`: kept as an entry or not (no room under the cap), and whether this put wrote the file. */
export interface PutResult {
  kept: boolean
  /** False when the entry existed, or a concurrent put of the digest wrote the file (this one checked its bytes). */
  written: boolean
}

/** What start-up repair found and fixed. */
export interface RepairReport {
  /** Files with no index row (a crash between rename and insert), or whose size disagrees with their row. */
  filesRemoved: number
  /** Index rows whose file is gone. */
  entriesRemoved: number
  /** Leftovers of fills that were running when the process stopped. */
  tmpRemoved: number
  /** Entries to re-hash before they are served, because the last run did not stop cleanly (or predates the check). */
  unverified: number
}

/**
 * Content-addressed files under a byte cap, least-recently-used first out. Only verified content becomes an
 * entry (fills write to `tmp/` and commit by rename; files, paths and renames are lib/cas-store.ts's). Pinned
 * digests (being read) are never evicted. Everything written counts against the cap: entries, and the reservations
 * of fills in flight, which hold room before they write (their declared size, or room grown as bytes arrive), so
 * the files never add up to more than the cap.
 */
export class BlobStore {
  readonly root: string
  readonly tmpDir: string
  readonly maxBytes: number
  readonly #cas: CasStore
  readonly #index: IndexDb
  readonly #fsync: boolean
  readonly #now: () => number
  readonly #log: Logger
  readonly #onEvict: (digest: string, size: number) => void
  readonly #onCorrupt: NonNullable<BlobStoreOptions['onCorrupt']>
  readonly #dir: string
  readonly #pins = new Map<string, number>()
  /** Re-hashes in progress (by kind and digest), so concurrent first reads of an unverified entry hash it once. */
  readonly #verifying = new Map<string, Promise<boolean>>()
  /** Corrupt files being removed: a commit of the same digest waits, so it never loses its new file to the removal. */
  readonly #dropping = new Map<string, Promise<void>>()
  #used = 0
  #reserved = 0

  constructor(opts: BlobStoreOptions) {
    this.root = join(opts.dir, 'blobs')
    this.tmpDir = join(opts.dir, 'tmp')
    this.#cas = new CasStore({ root: this.root, tmpDir: this.tmpDir, fsync: opts.fsync })
    this.maxBytes = opts.maxBytes
    this.#index = opts.index
    this.#fsync = opts.fsync
    this.#now = opts.now
    this.#log = opts.log
    this.#onEvict = opts.onEvict ?? (() => undefined)
    this.#onCorrupt = opts.onCorrupt ?? (() => undefined)
    this.#dir = opts.dir
  }

  /** Makes the index and the files agree (a crash may leave either without the other), then applies the cap. */
  async init(): Promise<RepairReport> {
    const report: RepairReport = { filesRemoved: 0, entriesRemoved: 0, tmpRemoved: 0, unverified: 0 }
    await this.#cas.init()
    // no marker: the last run crashed, lost power or was killed, and any file may be other than it was verified
    const marker = join(this.#dir, CLEAN_STOP_FILE)
    const clean = await stat(marker).then(
      () => true,
      () => false,
    )
    if (!clean) report.unverified = this.#index.unverifyAll()
    await rm(marker, { force: true })
    // the removal must outlive a crash of this run, or that crash would pass for a clean stop
    if (clean && this.#fsync) await fsyncPath(this.#dir)
    report.tmpRemoved = await this.#cas.clearTmp()
    const rows = new Map(this.#index.all().map((r) => [r.digest, r.size]))
    const seen = new Set<string>()
    for (const { digest, path } of await this.#cas.list()) {
      const size = rows.get(digest)
      if (size !== undefined && (await stat(path)).size === size) {
        seen.add(digest)
        continue
      }
      await rm(path, { force: true })
      report.filesRemoved++
    }
    const missing = [...rows.keys()].filter((d) => !seen.has(d))
    this.#index.remove(missing)
    report.entriesRemoved = missing.length
    this.#index.pruneLinks(this.#now() - 7 * 24 * 3_600_000)
    this.#used = this.#index.usedBytes()
    // the cap may have been lowered since the last start
    await this.#evict(this.#pickVictims(0))
    return report
  }

  /** Records a clean stop (call last, once nothing writes any more): the next start trusts the entries as verified. */
  async markCleanStop(): Promise<void> {
    const marker = join(this.#dir, CLEAN_STOP_FILE)
    await writeFile(marker, `${new Date(this.#now()).toISOString()}\n`)
    if (this.#fsync) {
      await fsyncPath(marker)
      await fsyncPath(this.#dir)
    }
  }

  get usedBytes(): number {
    return this.#used
  }

  get reservedBytes(): number {
    return this.#reserved
  }

  path(digest: string): string {
    return this.#cas.pathOf(digest)
  }

  /** A fresh path in the temporary folder (same filesystem as the entries, so commit is an atomic rename). */
  tmpPath(): string {
    return this.#cas.tmpPath()
  }

  /** Removes a temporary file that will not become an entry (a fill that failed); absent files are no error. */
  discard(tmpFile: string): Promise<void> {
    return this.#cas.discard(tmpFile)
  }

  entry(digest: string): Entry | undefined {
    return this.#index.entry(digest)
  }

  /**
   * Marks a digest as being read: eviction skips it until the returned function is called (once per pin).
   * Taken in the same tick as the lookup that found the entry, so nothing can evict it in between.
   */
  pin(digest: string): () => void {
    this.#pins.set(digest, (this.#pins.get(digest) ?? 0) + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      const n = (this.#pins.get(digest) ?? 1) - 1
      if (n <= 0) this.#pins.delete(digest)
      else this.#pins.set(digest, n)
    }
  }

  isPinned(digest: string): boolean {
    return this.#pins.has(digest)
  }

  /** Records a read (LRU order and hit count). */
  touch(digest: string): void {
    this.#index.touch(digest, this.#now())
  }

  /**
   * Opens an entry's file for reading; undefined (and the entry forgotten) when the file went missing behind the
   * index's back, so the caller can fill it again instead of failing mid-response. Hold a pin while reading.
   */
  async openFile(digest: string): Promise<FileHandle | undefined> {
    const fh = await this.#cas.openFile(digest)
    if (!fh) {
      this.#log.error({ digest }, 'cached file missing; entry dropped')
      this.drop(digest)
    }
    return fh
  }

  /** A stream over an opened entry (`end` inclusive, 256 KiB reads as the origin's); it closes the file when done. */
  stream(file: FileHandle, range?: ByteRange): ReadStream {
    return this.#cas.stream(file, range)
  }

  /**
   * A stream over a whole opened entry that hashes what it reads and holds back the last byte until the digest
   * matches: a file that rotted on disk ends the stream with an error (the response is cut short, never complete)
   * and the entry is dropped, so the next request fills it again. A match counts as a verification.
   */
  verifiedStream(file: FileHandle, digest: string, size: number): Readable {
    const { algorithm } = parseDigest(digest)
    const hasher = new StreamHasher(algorithm)
    let held: Buffer | undefined
    const check = new Transform({
      transform(chunk: Buffer, _enc, cb: TransformCallback) {
        const before = hasher.bytes
        hasher.update(chunk)
        if (before + chunk.byteLength < size) return cb(null, chunk)
        // the chunk with the last byte: all of it but that byte goes now
        held = chunk.subarray(chunk.byteLength - 1)
        cb(null, chunk.subarray(0, chunk.byteLength - 1))
      },
      flush: (cb: TransformCallback) => {
        const found = hasher.digest()
        if (hasher.bytes === size && found === digest && held) {
          this.#index.markVerified(digest, this.#now())
          return cb(null, held)
        }
        this.#log.error({ digest, size, read: hasher.bytes, found }, 'cached file does not match its digest; dropped')
        this.dropCorrupt(digest, 'read')
        cb(new Error(`cached ${digest} does not match its digest; it was dropped and will be filled again`))
      },
    })
    pipeline(this.stream(file), check, () => undefined)
    return check
  }

  /**
   * Hashes an entry's file (the scrub, or a first read after an unclean stop), one at a time per kind and digest:
   * true when it matches (recorded as verified), false when it does not or is gone (the entry is dropped).
   * `throttle` is awaited after each chunk read, with its size.
   */
  verify(
    digest: string,
    foundBy: 'scrub' | 'first read',
    throttle?: (bytes: number) => Promise<void>,
  ): Promise<boolean> {
    // a first read never waits behind the scrub's rate limit: each kind of check has its own flight
    const key = `${foundBy}|${digest}`
    const running = this.#verifying.get(key)
    if (running) return running
    const p = this.#verify(digest, foundBy, throttle).finally(() => this.#verifying.delete(key))
    this.#verifying.set(key, p)
    return p
  }

  async #verify(
    digest: string,
    foundBy: 'scrub' | 'first read',
    throttle?: (bytes: number) => Promise<void>,
  ): Promise<boolean> {
    const e = this.#index.entry(digest)
    if (!e) return false
    const hasher = new StreamHasher(parseDigest(digest).algorithm)
    const fh = await this.openFile(digest)
    if (!fh) return false
    try {
      const buf = Buffer.allocUnsafe(VERIFY_CHUNK)
      for (let pos = 0; ; ) {
        const { bytesRead } = await fh.read(buf, 0, buf.byteLength, pos)
        if (bytesRead === 0) break
        hasher.update(buf.subarray(0, bytesRead))
        pos += bytesRead
        await throttle?.(bytesRead)
      }
    } finally {
      await fh.close()
    }
    const found = hasher.digest()
    // the entry may have been evicted (or dropped and filled again) while it was read: then there is nothing to do
    if (this.#index.entry(digest)?.storedAt !== e.storedAt) return this.#index.entry(digest) !== undefined
    if (found === digest && hasher.bytes === e.size) {
      this.#index.markVerified(digest, this.#now())
      return true
    }
    this.#log.error({ digest, size: e.size, read: hasher.bytes, found, foundBy }, 'cached file does not match its digest; dropped')
    this.dropCorrupt(digest, foundBy)
    return false
  }

  /**
   * Drops an entry whose file no longer hashes to its digest, and removes the file (readers that hold it open
   * keep reading; a full read is cut short by its own check). The next request fills it again.
   */
  dropCorrupt(digest: string, foundBy: 'read' | 'scrub' | 'first read'): void {
    const e = this.#index.entry(digest)
    if (!e) return
    const removing = this.remove(digest)
    this.#onCorrupt(digest, e.size, foundBy)
    removing.catch((err: unknown) => this.#log.error({ err, digest }, 'could not remove a corrupt cached file'))
  }

  /**
   * Removes an entry, at once, and its file (readers that hold it open keep reading); an absent entry is no error.
   * A commit of the same digest waits for the file's removal, so it never loses its new file to it.
   */
  remove(digest: string): Promise<void> {
    if (!this.#index.entry(digest)) return Promise.resolve()
    this.drop(digest)
    const removing = this.#cas.remove(digest)
    const settled: Promise<void> = removing
      .catch(() => undefined)
      .finally(() => {
        if (this.#dropping.get(digest) === settled) this.#dropping.delete(digest)
      })
    this.#dropping.set(digest, settled)
    return removing
  }

  /** Forgets an entry whose file went missing behind the index's back (the next request fills it again). */
  drop(digest: string): void {
    const e = this.#index.entry(digest)
    if (!e) return
    this.#index.remove([digest])
    this.#used -= e.size
  }

  readBytes(digest: string): Promise<Buffer | undefined> {
    return this.#cas.readBytes(digest)
  }

  /**
   * Holds room for a fill of `bytes` (0 when the size is unknown; grow it as bytes arrive), evicting what is least
   * recently used and not being read. Answers undefined, evicting nothing, when even that cannot make room next to
   * the entries and the other fills' reservations: the fill must then not write to disk at all.
   */
  async reserve(bytes: number): Promise<Reservation | undefined> {
    const victims = this.#pickVictims(bytes)
    if (victims === undefined) return undefined
    this.#reserved += bytes
    let held = true
    let size = bytes
    const reservation: Reservation = {
      get bytes() {
        return size
      },
      grow: async (more) => {
        if (!held) return false
        const room = this.#pickVictims(more)
        if (room === undefined) return false
        this.#reserved += more
        size += more
        await this.#evict(room)
        return true
      },
      release: () => {
        if (!held) return
        held = false
        this.#reserved -= size
      },
    }
    await this.#evict(victims)
    return reservation
  }

  /**
   * Makes a verified file the entry for `digest`: the file is renamed into place and the index row inserted
   * (in that order: a crash in between leaves a file without a row, which start-up removes). Answers false when
   * the cap leaves no room even after evicting everything that is not being read: the file is then removed and
   * the bytes are served to the readers attached to the fill but not kept.
   */
  async commit(
    file: string,
    e: { digest: string; size: number; mediaType: string | null; source: string },
    reservation?: Reservation,
  ): Promise<boolean> {
    reservation?.release()
    if (this.#index.entry(e.digest)) {
      // the same bytes, verified again: this upstream has now proved it holds them
      this.#index.addSource(e.digest, e.source)
      await this.#cas.discard(file)
      return true
    }
    const victims = this.#pickVictims(e.size)
    if (victims === undefined) {
      await this.#cas.discard(file)
      return this.#noRoom(e)
    }
    // the room is ours from here: count it before any await, so concurrent commits see it taken
    this.#used += e.size
    try {
      await this.#evict(victims)
      // a corrupt file of this digest being removed must be gone before the new one takes its path
      await this.#dropping.get(e.digest)
      await this.#cas.commit(file, e.digest)
      this.#index.insert(e, this.#now(), e.source)
      return true
    } catch (err) {
      this.#used -= e.size
      await this.#cas.discard(file)
      throw err
    }
  }

  /**
   * Stores content that `source` served as an entry: small content (a manifest) as bytes, or a stream of `e.size`
   * bytes. The content is hashed as it is written and refused (IntegrityError, nothing kept) unless it is `e.size`
   * bytes hashing to `e.digest`; an existing entry's bytes are hashed too before `source` is recorded as holding
   * them. Not kept, nothing written, when the cap finds no room (the content is drained).
   */
  async put(e: NewEntry, content: Uint8Array): Promise<PutResult>
  async put(e: NewEntry & { size: number }, content: Readable): Promise<PutResult>
  async put(e: NewEntry & { size?: number }, content: Uint8Array | Readable): Promise<PutResult> {
    const size = content instanceof Uint8Array ? content.byteLength : e.size!
    const entry = { ...e, size }
    if (this.#index.entry(e.digest)) {
      await this.#cas.check(e.digest, content, { size })
      this.#index.addSource(e.digest, e.source)
      return { kept: true, written: false }
    }
    // room first, then the file: the cap counts what is written, not only what is kept
    const reservation = await this.reserve(size)
    if (!reservation) {
      if (!(content instanceof Uint8Array)) content.resume()
      return { kept: false, written: false }
    }
    try {
      // a corrupt file of this digest being removed must be gone before the new one takes its path
      await this.#dropping.get(e.digest)
      const { written } = await this.#cas.writeVerified(e.digest, content, { size })
      return { kept: await this.#adopt(entry, reservation), written }
    } finally {
      reservation.release()
    }
  }

  /**
   * Makes the verified file `put` moved into place an entry, in the same tick as the room is counted (so a
   * concurrent put of the digest finds the entry); removes it when the cap has no room after all.
   */
  async #adopt(e: NewEntry & { size: number }, reservation: Reservation): Promise<boolean> {
    reservation.release()
    if (this.#index.entry(e.digest)) {
      this.#index.addSource(e.digest, e.source)
      return true
    }
    const victims = this.#pickVictims(e.size)
    if (victims === undefined) {
      await this.#cas.remove(e.digest)
      return this.#noRoom(e)
    }
    this.#used += e.size
    this.#index.insert(e, this.#now(), e.source)
    await this.#evict(victims)
    return true
  }

  #noRoom(e: { digest: string; size: number }): false {
    const { digest, size } = e
    this.#log.warn({ digest, size, maxBytes: this.maxBytes }, 'no room under the cap: served, not kept')
    return false
  }

  /**
   * Chooses least-recently-used entries to evict so that entries, the room reserved by fills and `bytes` fit
   * under the cap; pinned entries are skipped. Victims leave the index and the byte count at once (before any
   * await), so concurrent callers never pick the same room twice. Answers undefined, evicting nothing, when even
   * evicting every unpinned entry would not make room for `bytes` next to what fills hold: emptying the cache would
   * not help.
   */
  #pickVictims(bytes: number): { digest: string; size: number }[] | undefined {
    const fits = (used: number) => used + this.#reserved + bytes <= this.maxBytes
    const victims: { digest: string; size: number }[] = []
    let used = this.#used
    if (!fits(used)) {
      for (const e of this.#index.leastRecentlyUsed()) {
        if (this.#pins.has(e.digest)) continue
        victims.push(e)
        used -= e.size
        if (fits(used)) break
      }
    }
    // the other fills' room is theirs: taking it would let fills together overshoot the cap
    if (used + this.#reserved + bytes > this.maxBytes) return undefined
    if (victims.length > 0) {
      this.#index.remove(victims.map((v) => v.digest))
      this.#used = used
    }
    return victims
  }

  async #evict(victims: { digest: string; size: number }[] | undefined): Promise<void> {
    for (const v of victims ?? []) {
      await this.#cas.remove(v.digest)
      this.#onEvict(v.digest, v.size)
      this.#log.info({ digest: v.digest, size: v.size }, 'evicted')
    }
  }
}
