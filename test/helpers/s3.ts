/**
 * An S3-compatible endpoint for a test: s3rver (npm) on a loopback port the system picks, keeping its objects in a
 * temporary folder, with the buckets asked for. It speaks what @aws-sdk/client-s3 and lib-storage use (multipart
 * uploads, Range GETs, presigned URLs) but does not check signatures, so it proves the protocol, not the auth.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import S3rver from 's3rver'

export interface S3Endpoint {
  /** `http://127.0.0.1:<port>` */
  endpoint: string
  /** The credentials s3rver expects (any are accepted; these are its defaults). */
  accessKeyId: string
  secretAccessKey: string
  stop(): Promise<void>
}

export async function startS3(buckets: string[]): Promise<S3Endpoint> {
  const directory = await mkdtemp(join(tmpdir(), 'wharf-s3-'))
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name, configs: [] })),
  })
  const address = (await server.run()) as AddressInfo
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    async stop() {
      await server.close()
      await rm(directory, { recursive: true, force: true })
    },
  }
}
