import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import pino from 'pino'
import { casStoreContract, readAll } from '../../lib/cas-store.contract.ts'
import { BlobStore } from './blob-store.ts'
import { IndexDb } from './index-db.ts'

// what the cache serves is what its index holds: entries are listed from it, whole reads are checked as they
// stream (CACHE_VERIFY_READS), and a reopen after a clean stop trusts the entries as they are
casStoreContract('cache-node BlobStore', async (dir) => {
  const index = new IndexDb(join(dir, 'index.db'))
  const store = new BlobStore({
    dir,
    index,
    maxBytes: 64 * 1024 * 1024,
    fsync: true,
    now: Date.now,
    log: pino({ level: 'silent' }),
  })
  await store.init()
  return {
    put: async (digest, source, size) => {
      const r = await store.put({ digest, size, mediaType: null, source: 'wharf' }, source)
      if (!r.kept) throw new Error(`${digest} was not kept`)
      return r
    },
    read: async (digest, range) => {
      const e = store.entry(digest)
      if (!e) return undefined
      const unpin = store.pin(digest)
      try {
        const fh = await store.openFile(digest)
        if (!fh) return undefined
        return await readAll(range ? store.stream(fh, range) : store.verifiedStream(fh, digest, e.size))
      } finally {
        unpin()
      }
    },
    remove: (digest) => store.remove(digest),
    list: async () => index.all().map((r) => r.digest),
    tmpFiles: () => readdir(store.tmpDir),
    close: async () => {
      await store.markCleanStop()
      index.close()
    },
  }
})
