import { basename } from 'node:path'
import { S3Client } from '@aws-sdk/client-s3'
import { afterAll } from 'vitest'
import { casStoreContract, readAll } from '../../lib/cas-store.contract.ts'
import { startS3 } from '../../test/helpers/s3.ts'
import { S3BlobStore } from './s3-blob-store.ts'

const s3 = await startS3(['wharf'])
const client = new S3Client({
  endpoint: s3.endpoint,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
})
afterAll(async () => {
  client.destroy()
  await s3.stop()
})

function subject(blobs: S3BlobStore) {
  return {
    put: (digest: string, source: Parameters<S3BlobStore['put']>[1], size: number) => blobs.put(digest, source, size),
    read: async (digest: string, range?: { start: number; end: number }) =>
      (await blobs.stat(digest)) === undefined ? undefined : readAll(blobs.open(digest, range)),
    remove: (digest: string) => blobs.delete(digest),
    list: () => blobs.list(),
    tmpFiles: () => blobs.temporaries(),
    close: async () => undefined,
  }
}

// each test's folder names a prefix in one bucket: a reopen of the folder is the same prefix
casStoreContract('origin S3BlobStore', async (dir) =>
  subject(new S3BlobStore({ client, bucket: 'wharf', prefix: `${basename(dir)}/`, partSize: 5 * 1024 * 1024 })),
)

// the same contract with blobs larger than a part, sent as multipart uploads completed only once they verify
// (1 MiB parts: s3rver takes parts under S3's least of 5 MiB, so the test blobs need not be large)
casStoreContract('origin S3BlobStore, multipart', async (dir) =>
  subject(new S3BlobStore({ client, bucket: 'wharf', prefix: `${basename(dir)}/`, partSize: 1024 * 1024 })),
)
