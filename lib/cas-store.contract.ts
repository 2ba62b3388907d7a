import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { digestOf } from '../oci/digest.ts'
import type { ByteRange } from './cas-store.ts'

/** A content-addressed store as the contract drives it; each store's test adapts its own API to this. */
export interface CasSubject {
  /** Stores `size` bytes from `source` as `digest`; rejects with an IntegrityError-like `{ expected, found }`. */
  put(digest: string, source: Readable, size: number): Promise<{ written: boolean }>
  /** The stored bytes (or a range of them), or undefined when the digest is not (visibly) stored. */
  read(digest: string, range?: ByteRange): Promise<Buffer | undefined>
  remove(digest: string): Promise<void>
  /** Every stored digest. */
  list(): Promise<string[]>
  /** What is in the store's temporary folder. */
  tmpFiles(): Promise<string[]>
  /** Lets go of the store (a reopen follows in the same folder). */
  close(): Promise<void>
}

/** Bytes in chunks of 64 KiB, as a socket delivers them. */
function chunked(bytes: Buffer): Readable {
  const chunks: Buffer[] = []
  for (let i = 0; i < bytes.byteLength; i += 64 * 1024) chunks.push(bytes.subarray(i, i + 64 * 1024))
  return Readable.from(chunks)
}

/** Every byte of a stream (the test adapters' reads). */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** Resolves once the store has begun a temporary file (a write is under way). */
async function writing(s: CasSubject): Promise<void> {
  while ((await s.tmpFiles()).length === 0) await sleep(5)
}

/**
 * The behaviour every content-addressed store must have (undici's `cacheStoreTests`): run it from each store's
 * test file with a function that opens the store in a folder (the same folder again for a reopen).
 */
export function casStoreContract(name: string, open: (dir: string) => Promise<CasSubject>): void {
  describe(`${name} (content-addressed store contract)`, () => {
    let dir: string
    let s: CasSubject
    const blob = randomBytes(3 * 1024 * 1024 + 17)
    const digest = digestOf(blob)

    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'wharf-cas-'))
      s = await open(dir)
    })

    afterEach(async () => {
      await s.close()
      await rm(dir, { recursive: true, force: true })
    })

    it('gives back the bytes it was given, under their digest', async () => {
      expect(await s.put(digest, chunked(blob), blob.byteLength)).toMatchObject({ written: true })
      expect((await s.read(digest))?.equals(blob)).toBe(true)
      expect(await s.list()).toEqual([digest])
      expect(await s.tmpFiles()).toEqual([])
    })

    it('stores sha512 content as well', async () => {
      const d = digestOf(blob, 'sha512')
      await s.put(d, chunked(blob), blob.byteLength)
      expect((await s.read(d))?.equals(blob)).toBe(true)
    })

    it('refuses bytes that do not hash to the digest, saying what it expected and found, and keeps nothing', async () => {
      const other = digestOf(Buffer.from('something else'))
      await expect(s.put(other, chunked(blob), blob.byteLength)).rejects.toMatchObject({
        expected: other,
        found: digest,
      })
      expect(await s.read(other)).toBeUndefined()
      expect(await s.list()).toEqual([])
      expect(await s.tmpFiles()).toEqual([])
    })

    it('refuses content of another size than declared and keeps nothing', async () => {
      await expect(s.put(digest, chunked(blob), blob.byteLength + 1)).rejects.toMatchObject({
        expected: blob.byteLength + 1,
        found: blob.byteLength,
      })
      expect(await s.read(digest)).toBeUndefined()
      expect(await s.list()).toEqual([])
      expect(await s.tmpFiles()).toEqual([])
    })

    it('writes concurrent puts of one digest once, and both succeed', async () => {
      const first = new PassThrough()
      const a = s.put(digest, first, blob.byteLength)
      await writing(s)
      const b = s.put(digest, chunked(blob), blob.byteLength)
      first.end(blob)
      const results = await Promise.all([a, b])
      expect(results.filter((r) => r.written)).toHaveLength(1)
      expect((await s.read(digest))?.equals(blob)).toBe(true)
      expect(await s.list()).toEqual([digest])
      expect(await s.tmpFiles()).toEqual([])
    })

    it('refuses a concurrent put of the same digest with other bytes, and keeps the right ones', async () => {
      const first = new PassThrough()
      const a = s.put(digest, first, blob.byteLength)
      await writing(s)
      const forged = randomBytes(blob.byteLength)
      const b = s.put(digest, chunked(forged), blob.byteLength)
      first.end(blob)
      await a
      await expect(b).rejects.toMatchObject({ expected: digest, found: digestOf(forged) })
      expect((await s.read(digest))?.equals(blob)).toBe(true)
    })

    /** A put whose first MiB is on its way to disk, and whose source the test ends or breaks. */
    async function halfWritten(): Promise<{ source: PassThrough; put: Promise<unknown> }> {
      const source = new PassThrough()
      const put = s.put(digest, source, blob.byteLength)
      put.catch(() => undefined)
      source.write(blob.subarray(0, 1024 * 1024))
      await writing(s)
      return { source, put }
    }

    it('shows nothing of a file being written until it is whole and verified', async () => {
      const { source, put } = await halfWritten()
      expect(await s.read(digest)).toBeUndefined()
      expect(await s.list()).toEqual([])
      source.end(blob.subarray(1024 * 1024))
      await put
      expect((await s.read(digest))?.equals(blob)).toBe(true)
    })

    it('leaves nothing behind when the source breaks off mid-write', async () => {
      const { source, put } = await halfWritten()
      source.destroy(new Error('connection reset'))
      await expect(put).rejects.toThrow('connection reset')
      expect(await s.read(digest)).toBeUndefined()
      expect(await s.list()).toEqual([])
      expect(await s.tmpFiles()).toEqual([])
    })

    it('reads inclusive byte ranges', async () => {
      await s.put(digest, chunked(blob), blob.byteLength)
      expect((await s.read(digest, { start: 0, end: 0 }))?.equals(blob.subarray(0, 1))).toBe(true)
      expect(
        (await s.read(digest, { start: 100_000, end: 1_500_000 }))?.equals(blob.subarray(100_000, 1_500_001)),
      ).toBe(true)
      const last = blob.byteLength - 1
      expect((await s.read(digest, { start: last - 9, end: last }))?.equals(blob.subarray(last - 9))).toBe(true)
    })

    it('removes content, and removing what is absent is no error', async () => {
      await s.put(digest, chunked(blob), blob.byteLength)
      await s.remove(digest)
      expect(await s.read(digest)).toBeUndefined()
      expect(await s.list()).toEqual([])
      await s.remove(digest)
    })

    it('lists what it holds', async () => {
      const blobs = [randomBytes(10), randomBytes(1000), Buffer.alloc(0)]
      for (const b of blobs) await s.put(digestOf(b), chunked(b), b.byteLength)
      expect((await s.list()).sort()).toEqual(blobs.map((b) => digestOf(b)).sort())
    })

    it('keeps its content across a reopen of the same folder', async () => {
      await s.put(digest, chunked(blob), blob.byteLength)
      await s.close()
      s = await open(dir)
      expect((await s.read(digest))?.equals(blob)).toBe(true)
      expect(await s.list()).toEqual([digest])
    })
  })
}
