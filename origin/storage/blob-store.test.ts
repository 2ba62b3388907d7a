import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { digestOf } from '../../oci/digest.ts'
import { casStoreContract, readAll } from '../../lib/cas-store.contract.ts'
import { FsBlobStore } from './blob-store.ts'

// the folders createDeps gives it: blobs/ and the uploads folder for its temporary files
casStoreContract('origin FsBlobStore', async (dir) => {
  const tmpDir = join(dir, 'uploads')
  const blobs = new FsBlobStore(join(dir, 'blobs'), { fsync: true, tmpDir })
  return {
    put: (digest, source, size) => blobs.put(digest, source, size),
    read: async (digest, range) =>
      (await blobs.stat(digest)) === undefined ? undefined : readAll(blobs.open(digest, range)),
    remove: (digest) => blobs.delete(digest),
    list: () => blobs.list(),
    tmpFiles: () => readdir(tmpDir).catch(() => []),
    close: async () => undefined,
  }
})

it('reads a data folder laid out as before lib/cas-store.ts: blobs/<algorithm>/<first two hex>/<hex>', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'wharf-origin-blobs-'))
  try {
    const bytes = Buffer.from('a layer pushed by an earlier version')
    const hex = digestOf(bytes).slice('sha256:'.length)
    await mkdir(join(dir, 'blobs', 'sha256', hex.slice(0, 2)), { recursive: true })
    await writeFile(join(dir, 'blobs', 'sha256', hex.slice(0, 2), hex), bytes)
    const blobs = new FsBlobStore(join(dir, 'blobs'), { fsync: false, tmpDir: join(dir, 'uploads') })
    expect(await blobs.stat(digestOf(bytes))).toBe(bytes.byteLength)
    expect(await readAll(blobs.open(digestOf(bytes), { start: 2, end: 6 }))).toEqual(bytes.subarray(2, 7))
    expect(await blobs.list()).toEqual([digestOf(bytes)])
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
