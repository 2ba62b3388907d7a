import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { casStoreContract } from '../../lib/cas-store.contract.ts'
import { FsBlobStore } from './blob-store.ts'

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

// the folders createDeps gives it: blobs/ and the uploads folder for its temporary files
casStoreContract('origin FsBlobStore', async (dir) => {
  const tmpDir = join(dir, 'uploads')
  const blobs = new FsBlobStore(join(dir, 'blobs'), { fsync: true, tmpDir })
  return {
    put: (digest, source, size) => blobs.put(digest, source, size),
    read: async (digest, range) => ((await blobs.stat(digest)) === undefined ? undefined : collect(blobs.open(digest, range))),
    remove: (digest) => blobs.delete(digest),
    list: () => blobs.list(),
    tmpFiles: () => readdir(tmpDir).catch(() => []),
    close: async () => undefined,
  }
})
