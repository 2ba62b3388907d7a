import { createReadStream, type ReadStream } from 'node:fs'
import { mkdir, open, rename, rm, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { parseDigest } from '../../oci/digest.ts'

/** Content-addressed blob files; only verified content is ever moved in. */
export interface BlobStore {
  /** Size of the stored file, or undefined when absent. */
  stat(digest: string): Promise<number | undefined>
  /** A stream over the blob's bytes, `start` and `end` inclusive as in fs.createReadStream. */
  open(digest: string, range?: { start: number; end: number }): ReadStream
  /** Moves a file whose content was verified to hash to `digest` into place, atomically; the file is consumed. */
  commit(verifiedFile: string, digest: string): Promise<void>
  /** Removes the blob's file; absent files are not an error. */
  delete(digest: string): Promise<void>
}

/**
 * Blobs as files under `root/<algorithm>/<first two hex>/<hex>`. Temporary files live on the same filesystem
 * (`tmpDir`) so that the final rename is atomic: a reader sees either no file or the whole verified blob.
 */
export class FsBlobStore implements BlobStore {
  readonly root: string
  readonly #fsync: boolean

  constructor(root: string, opts: { fsync: boolean }) {
    this.root = root
    this.#fsync = opts.fsync
  }

  path(digest: string): string {
    const { algorithm, hex } = parseDigest(digest)
    return join(this.root, algorithm, hex.slice(0, 2), hex)
  }

  async stat(digest: string): Promise<number | undefined> {
    try {
      return (await stat(this.path(digest))).size
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
  }

  open(digest: string, range?: { start: number; end: number }): ReadStream {
    // 256 KiB reads: 4× fewer syscalls than the 64 KiB default on large layers, while each concurrent download
    // holds ~1.3 MB instead of ~3.7 MB with 1 MiB reads (npm run bench: 16 concurrent GETs grew RSS ~20 MB, not ~60,
    // at the same throughput and CPU within noise)
    return createReadStream(this.path(digest), { ...range, highWaterMark: 256 * 1024 })
  }

  async commit(verifiedFile: string, digest: string): Promise<void> {
    const target = this.path(digest)
    const dir = dirname(target)
    await mkdir(dir, { recursive: true })
    if (this.#fsync) await fsyncPath(verifiedFile)
    // rename over an existing copy is fine: same digest, same bytes
    await rename(verifiedFile, target)
    if (this.#fsync) await fsyncPath(dir)
  }

  async delete(digest: string): Promise<void> {
    await rm(this.path(digest), { force: true })
  }
}

export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}
