import { randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, open, readdir, rm, stat, truncate } from 'node:fs/promises'
import { join } from 'node:path'
import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Logger } from 'pino'
import { OciError } from '../../oci/errors.ts'
import { StreamHasher, parseDigest } from '../../oci/digest.ts'
import { IntegrityError, fsyncPath } from '../../lib/cas-store.ts'
import type { BlobStore } from '../storage/blob-store.ts'
import type { Metadata, UploadRow } from '../storage/metadata.ts'
import type { RegistryCaller, RegistryService } from './registry.ts'

export interface UploadDeps {
  meta: Metadata
  blobs: BlobStore
  /** Creates the repository a push goes to when it does not exist yet (the registry's rule). */
  repositories: Pick<RegistryService, 'ensureRepository'>
  /** Folder for in-progress uploads, on the same filesystem as the blob store. */
  dir: string
  fsync: boolean
  now: () => number
  log: Logger
}

/** A chunk's declared position: `Content-Range: start-end` (inclusive) and `Content-Length`. */
export interface ChunkInfo {
  range?: { start: number; end: number }
  length?: number
}

export interface CompletedBlob {
  digest: string
  size: number
}

/**
 * Upload sessions. The session's acknowledged offset lives in SQLite and its bytes in `dir/<id>`; a restart keeps
 * both, and bytes past the acknowledged offset (a write that was cut off) are dropped when the session is next used.
 * The running sha256 is kept in memory so the common push (one streamed PATCH, then PUT) hashes each byte once;
 * after a restart, or for sha512, the file is hashed again at the end.
 */
export class UploadService {
  readonly #d: UploadDeps
  readonly #hashers = new Map<string, StreamHasher>()
  readonly #busy = new Set<string>()

  constructor(deps: UploadDeps) {
    this.#d = deps
  }

  async init(): Promise<void> {
    await mkdir(this.#d.dir, { recursive: true })
    await this.#recover()
  }

  /** Opens a session (POST); the first push into a repository that does not exist creates it, or is refused. */
  async start(repository: string, caller: RegistryCaller): Promise<UploadRow> {
    this.#d.repositories.ensureRepository(repository, caller)
    const id = randomUUID()
    const fh = await open(this.#file(id), 'wx')
    await fh.close()
    this.#d.meta.createUpload(id, repository, this.#d.now())
    return this.status(repository, id)
  }

  /** The session, if it belongs to the repository; BLOB_UPLOAD_UNKNOWN otherwise. */
  status(repository: string, id: string): UploadRow {
    const row = /^[0-9a-f-]{36}$/.test(id) ? this.#d.meta.upload(id) : undefined
    if (!row || row.repository !== repository) {
      throw new OciError('BLOB_UPLOAD_UNKNOWN', `upload ${id.slice(0, 64)} is unknown to repository ${repository}`)
    }
    return row
  }

  /** Appends a chunk (PATCH). A chunk that does not start at the session's offset gets 416. */
  async append(repository: string, id: string, body: Readable, chunk: ChunkInfo): Promise<UploadRow> {
    return this.#exclusive(repository, id, async (row) => {
      const offset = await this.#write(row, body, chunk)
      this.#d.meta.advanceUpload(id, offset, this.#d.now())
      return { ...row, offset }
    })
  }

  /** Closes the session (PUT ?digest=): writes the optional last chunk, verifies, and links the blob. */
  async finish(
    repository: string,
    id: string,
    digest: string,
    body: Readable | undefined,
    chunk: ChunkInfo,
    caller: RegistryCaller,
  ): Promise<CompletedBlob> {
    // the repository may have been deleted while the session was open
    this.#d.repositories.ensureRepository(repository, caller)
    const parsed = parseDigest(digest)
    return this.#exclusive(repository, id, async (row) => {
      const size = body ? await this.#write(row, body, chunk) : row.offset
      const file = this.#file(id)
      const hasher = this.#hashers.get(id)
      const found =
        hasher && hasher.algorithm === parsed.algorithm && hasher.bytes === size
          ? hasher.digest()
          : await hashFile(file, parsed.algorithm)
      this.#hashers.delete(id)
      if (found !== parsed.digest) {
        await this.#discard(id)
        throw refused(new IntegrityError('EINTEGRITY', parsed.digest, found))
      }
      await this.#d.blobs.commit(file, parsed.digest)
      this.#d.meta.completeUpload(id, repository, parsed.digest, size, caller.actor.name, this.#d.now())
      return { digest: parsed.digest, size }
    })
  }

  /**
   * The whole blob in one request (POST ?digest=): no session, the blob store streams it in while hashing and
   * moves it into place once verified.
   */
  async putWhole(
    repository: string,
    digest: string,
    body: Readable,
    chunk: ChunkInfo,
    caller: RegistryCaller,
  ): Promise<CompletedBlob> {
    this.#d.repositories.ensureRepository(repository, caller)
    const parsed = parseDigest(digest)
    const expected = expectedBytes(0, body, chunk)
    const { size } = await this.#d.blobs.put(parsed.digest, body, expected).catch((err: unknown) => {
      throw err instanceof IntegrityError ? refused(err) : err
    })
    this.#d.meta.linkBlob(repository, parsed.digest, size, caller.actor.name, this.#d.now())
    return { digest: parsed.digest, size }
  }

  async cancel(repository: string, id: string): Promise<void> {
    await this.#exclusive(repository, id, async () => this.#discard(id))
  }

  /** Drops sessions untouched for longer than `maxAgeMs`; returns how many. */
  async purgeStale(maxAgeMs: number): Promise<number> {
    const cutoff = this.#d.now() - maxAgeMs
    let n = 0
    for (const row of this.#d.meta.allUploads()) {
      if (row.updatedAt < cutoff && !this.#busy.has(row.id)) {
        await this.#discard(row.id)
        n++
      }
    }
    return n
  }

  #file(id: string): string {
    return join(this.#d.dir, id)
  }

  async #exclusive<T>(repository: string, id: string, fn: (row: UploadRow) => Promise<T>): Promise<T> {
    const row = this.status(repository, id)
    if (this.#busy.has(id)) {
      throw new OciError('BLOB_UPLOAD_INVALID', 'another request is writing to this upload', {
        status: 416,
        headers: { Range: rangeHeader(row.offset) },
      })
    }
    this.#busy.add(id)
    try {
      return await fn(row)
    } finally {
      this.#busy.delete(id)
    }
  }

  /** Writes one chunk at the session's offset and returns the new offset; on any failure the file is cut back. */
  async #write(row: UploadRow, body: Readable, chunk: ChunkInfo): Promise<number> {
    const expected = expectedBytes(row.offset, body, chunk)
    const file = this.#file(row.id)
    let hasher = this.#hashers.get(row.id)
    if (hasher && hasher.bytes !== row.offset) {
      this.#hashers.delete(row.id)
      hasher = undefined
    }
    if (!hasher && row.offset === 0) {
      hasher = new StreamHasher('sha256')
      this.#hashers.set(row.id, hasher)
    }
    let written = 0
    const counter = new Transform({
      highWaterMark: WRITE_BUFFER,
      transform(data: Buffer, _enc, cb) {
        written += data.byteLength
        hasher?.update(data)
        cb(null, data)
      },
    })
    try {
      // a deep write buffer lets the file stream batch chunks into one writev while the next ones arrive
      await pipeline(
        body,
        counter,
        createWriteStream(file, { flags: 'r+', start: row.offset, highWaterMark: WRITE_BUFFER }),
      )
      if (expected !== undefined && written !== expected) {
        throw refused(new IntegrityError('EBADSIZE', expected, written))
      }
      if (this.#d.fsync) await fsyncPath(file)
    } catch (err) {
      // the session stays usable at its last acknowledged offset; the hash state is past it, so drop it
      this.#hashers.delete(row.id)
      await truncate(file, row.offset).catch(() => undefined)
      throw err
    }
    return row.offset + written
  }

  async #discard(id: string): Promise<void> {
    this.#hashers.delete(id)
    this.#d.meta.deleteUpload(id)
    await rm(this.#file(id), { force: true })
  }

  /** At start: sessions lose bytes they never acknowledged; files without sessions and sessions without files go. */
  async #recover(): Promise<void> {
    const rows = new Map(this.#d.meta.allUploads().map((r) => [r.id, r]))
    for (const name of await readdir(this.#d.dir)) {
      if (!rows.has(name)) await rm(join(this.#d.dir, name), { force: true, recursive: true })
    }
    for (const row of rows.values()) {
      const size = await stat(this.#file(row.id)).then(
        (s) => s.size,
        () => undefined,
      )
      if (size === undefined || size < row.offset) {
        this.#d.log.warn({ uploadId: row.id, size, offset: row.offset }, 'dropping damaged upload session')
        await this.#discard(row.id)
      } else if (size > row.offset) {
        await truncate(this.#file(row.id), row.offset)
      }
    }
  }
}

/** Bytes of a request body buffered ahead of the disk during an upload. */
const WRITE_BUFFER = 1024 * 1024

/**
 * The bytes a chunk at `offset` declares (Content-Range, else Content-Length), if any; a chunk that does not start
 * at the offset gets 416, and a Content-Length that disagrees with its Content-Range SIZE_INVALID (the body is
 * drained, so the client reads the error).
 */
function expectedBytes(offset: number, body: Readable, chunk: ChunkInfo): number | undefined {
  const { range, length } = chunk
  if (!range) return length
  // inclusive: an end before its start (`50-49`, even with an empty body) names no byte and is no chunk
  if (range.start !== offset || range.end < range.start) {
    body.resume()
    throw new OciError('BLOB_UPLOAD_INVALID', `chunk must start at offset ${offset}`, {
      status: 416,
      headers: { Range: rangeHeader(offset) },
      detail: { offset },
    })
  }
  if (length !== undefined && length !== range.end - range.start + 1) {
    body.resume()
    throw new OciError(
      'SIZE_INVALID',
      `Content-Length ${length} does not match Content-Range ${range.start}-${range.end}`,
    )
  }
  return range.end - range.start + 1
}

/** The OCI error for content that is not what the client said it is. */
function refused(err: IntegrityError): OciError {
  return err.code === 'EBADSIZE'
    ? new OciError('SIZE_INVALID', `received ${err.found} bytes, expected ${err.expected}`)
    : new OciError('DIGEST_INVALID', `uploaded content has digest ${err.found}, not ${err.expected}`, {
        detail: { expected: err.expected, found: err.found },
      })
}

export function rangeHeader(offset: number): string {
  // docker reads "0-<last offset>" with no unit and counts end-start+1 bytes; an empty upload is "0-0" as distribution says
  return `0-${Math.max(offset - 1, 0)}`
}

async function hashFile(file: string, algorithm: 'sha256' | 'sha512'): Promise<string> {
  const h = new StreamHasher(algorithm)
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) h.update(chunk as Buffer)
  return h.digest()
}
