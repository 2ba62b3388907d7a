/**
 * Large random blob files for transfer benchmarks, generated once into a cache folder (bench/.cache/, gitignored)
 * and reused. Generation streams: one 1 MiB buffer is refilled with random bytes, hashed and written, so memory
 * stays flat whatever the size.
 */
import { createHash, randomFillSync } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { MiB } from './units.ts'

export interface BlobFile {
  path: string
  size: number
  /** sha256:<hex> */
  digest: string
}

/** bench/.cache next to this file's folder. */
export const DEFAULT_CACHE_DIR = resolve(import.meta.dirname, '..', '.cache')

/**
 * Returns a random blob of exactly `size` bytes from the cache, creating it if needed. The digest is kept in a
 * `<file>.sha256` sidecar written after the data, so an interrupted generation is never reused.
 */
export async function ensureRandomBlob(
  size: number,
  opts: { cacheDir?: string; name?: string; log?: (msg: string) => void } = {},
): Promise<BlobFile> {
  if (!Number.isSafeInteger(size) || size < 0) throw new Error(`blob size must be a non-negative integer, got ${size}`)
  const dir = opts.cacheDir ?? DEFAULT_CACHE_DIR
  await mkdir(dir, { recursive: true })
  const path = join(dir, `${opts.name ?? 'random'}-${size}.bin`)
  const sidecar = `${path}.sha256`
  const cached = await readCached(path, sidecar, size)
  if (cached) return cached

  opts.log?.(`generating ${size} random bytes into ${path}`)
  const tmp = `${path}.${process.pid}.tmp`
  const hash = createHash('sha256')
  const buf = Buffer.allocUnsafe(Math.min(size, MiB) || 1)
  const fh = await open(tmp, 'w')
  try {
    for (let left = size; left > 0;) {
      const n = Math.min(left, buf.length)
      const chunk = buf.subarray(0, n)
      randomFillSync(chunk)
      hash.update(chunk)
      // sequential awaited writes: the one buffer is never in flight twice
      let off = 0
      while (off < n) off += (await fh.write(chunk, off, n - off)).bytesWritten
      left -= n
    }
    await fh.sync()
  } catch (err) {
    await fh.close().catch(() => undefined)
    await rm(tmp, { force: true })
    throw err
  }
  await fh.close()
  const digest = `sha256:${hash.digest('hex')}`
  await rename(tmp, path)
  await writeFile(sidecar, `${digest}\n`)
  return { path, size, digest }
}

async function readCached(path: string, sidecar: string, size: number): Promise<BlobFile | undefined> {
  try {
    const [st, text] = await Promise.all([stat(path), readFile(sidecar, 'utf8')])
    const digest = text.trim()
    if (st.size === size && /^sha256:[a-f0-9]{64}$/.test(digest)) return { path, size, digest }
  } catch {
    // absent or unreadable: regenerate
  }
  return undefined
}

/** sha256 of a file, streamed with 1 MiB reads. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: MiB })) hash.update(chunk as Buffer)
  return `sha256:${hash.digest('hex')}`
}
