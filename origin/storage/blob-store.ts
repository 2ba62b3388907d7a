import type { ReadStream } from 'node:fs'
import type { Readable } from 'node:stream'
import { CasStore, type ByteRange, type WriteResult } from '../../lib/cas-store.ts'

/** Content-addressed blob files; only verified content is ever moved in. */
export interface BlobStore {
  /** Size of the stored file, or undefined when absent. */
  stat(digest: string): Promise<number | undefined>
  /** A stream over the blob's bytes, `start` and `end` inclusive as in fs.createReadStream. */
  open(digest: string, range?: ByteRange): Readable
  /** Streams a whole blob in, verifying its digest (and size, when given); rejects with IntegrityError. */
  put(digest: string, source: Readable, size?: number): Promise<WriteResult>
  /** Moves a file whose content was verified to hash to `digest` into place, atomically; the file is consumed. */
  commit(verifiedFile: string, digest: string): Promise<void>
  /** Removes the blob's file; absent files are not an error. */
  delete(digest: string): Promise<void>
  /** Every stored blob's digest (garbage collection). */
  list(): Promise<string[]>
  /**
   * A short-lived URL a client may GET the blob from directly (an S3 presigned URL), for stores that have one and
   * were configured to redirect; undefined otherwise.
   */
  redirectUrl?(digest: string): Promise<string | undefined>
}

/**
 * Blobs as files under `root/<algorithm>/<first two hex>/<hex>` (lib/cas-store.ts). Temporary files live on the
 * same filesystem (`tmpDir`, the uploads folder) so that the final rename is atomic: a reader sees either no file
 * or the whole verified blob.
 */
export class FsBlobStore implements BlobStore {
  readonly root: string
  readonly #cas: CasStore

  constructor(root: string, opts: { fsync: boolean; tmpDir: string }) {
    this.root = root
    this.#cas = new CasStore({ root, tmpDir: opts.tmpDir, fsync: opts.fsync })
  }

  path(digest: string): string {
    return this.#cas.pathOf(digest)
  }

  stat(digest: string): Promise<number | undefined> {
    return this.#cas.stat(digest)
  }

  open(digest: string, range?: ByteRange): ReadStream {
    return this.#cas.open(digest, range)
  }

  put(digest: string, source: Readable, size?: number): Promise<WriteResult> {
    return this.#cas.writeVerified(digest, source, { size })
  }

  commit(verifiedFile: string, digest: string): Promise<void> {
    return this.#cas.commit(verifiedFile, digest)
  }

  delete(digest: string): Promise<void> {
    return this.#cas.remove(digest)
  }

  async list(): Promise<string[]> {
    return (await this.#cas.list()).map((f) => f.digest)
  }
}
