import { createHash, randomUUID, type Hash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { unlink } from 'node:fs/promises'
import { PassThrough, Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  UploadPartCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { parseDigest } from '../../oci/digest.ts'
import { IntegrityError, type ByteRange, type WriteResult } from '../../lib/cas-store.ts'
import type { BlobStore } from './blob-store.ts'

const DEFAULT_PART = 16 * 1024 * 1024

export interface S3BlobStoreOptions {
  client: S3Client
  bucket: string
  /** Prepended to every key (`registry/`), '' for the bucket's root. */
  prefix?: string
  /**
   * Part size of multipart uploads (default 16 MiB; S3 takes 5 MiB to 5 GiB but for the last part): the memory one
   * write holds, and the largest blob sent with a single PutObject.
   */
  partSize?: number
  /**
   * Lifetime of the presigned URLs blob GETs are redirected to; 0 (the default) serves every blob through the
   * origin instead.
   */
  redirectTtlS?: number
}

/**
 * Blobs in S3-compatible object storage, laid out as the filesystem store lays out files
 * (`<prefix>blobs/<algorithm>/<first two hex>/<hex>`). A blob is streamed into a multipart upload at its own key
 * while it is hashed, and the upload is completed only once digest and size verify: a reader sees either nothing or
 * the whole verified blob, and no copy is needed (S3 has no rename).
 */
export class S3BlobStore implements BlobStore {
  readonly #o: Required<Omit<S3BlobStoreOptions, 'client'>> & { client: S3Client }
  /** Digests being written by this process: a second put of one only checks its own bytes. */
  readonly #writing = new Map<string, Promise<unknown>>()
  /** Temporary keys of writes under way (an unfinished multipart upload lists as no object). */
  readonly #pending = new Set<string>()

  constructor(opts: S3BlobStoreOptions) {
    this.#o = { prefix: '', partSize: DEFAULT_PART, redirectTtlS: 0, ...opts }
  }

  key(digest: string): string {
    const d = parseDigest(digest)
    return `${this.#o.prefix}blobs/${d.algorithm}/${d.hex.slice(0, 2)}/${d.hex}`
  }

  async stat(digest: string): Promise<number | undefined> {
    try {
      const head = await this.#o.client.send(new HeadObjectCommand({ Bucket: this.#o.bucket, Key: this.key(digest) }))
      return head.ContentLength ?? 0
    } catch (err) {
      if (notFound(err)) return undefined
      throw err
    }
  }

  open(digest: string, range?: ByteRange): Readable {
    const out = new PassThrough()
    this.#o.client
      .send(
        new GetObjectCommand({
          Bucket: this.#o.bucket,
          Key: this.key(digest),
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      )
      .then(
        (res) => {
          const body = res.Body as Readable | undefined
          if (!body) {
            out.end()
            return
          }
          body.on('error', (err) => out.destroy(err))
          out.on('close', () => body.destroy())
          // a server that ignored the Range (s3rver does for bytes=0-0) sent the whole object: cut it here
          const honoured = range && res.ContentRange?.startsWith(`bytes ${range.start}-${range.end}/`)
          if (range && !honoured) body.pipe(new Slice(range.start, range.end)).pipe(out)
          else body.pipe(out)
        },
        (err: unknown) => out.destroy(err as Error),
      )
    return out
  }

  async put(digest: string, source: Readable, size?: number): Promise<WriteResult> {
    const d = parseDigest(digest)
    const other = this.#writing.get(d.digest)
    if (other || (await this.stat(d.digest)) !== undefined) {
      // stored, or being stored: check these bytes without writing them again
      const found = await hashOf(source, d.algorithm)
      // the answer comes once the other write has settled, as it would from one writer
      if (other) await other.catch(() => undefined)
      check(d.digest, found.digest, size, found.size)
      return { digest: d.digest, size: found.size, written: false }
    }
    const write = this.#write(d.digest, d.algorithm, source, size)
    this.#writing.set(d.digest, write)
    try {
      return await write
    } finally {
      this.#writing.delete(d.digest)
    }
  }

  /** Moves a local file whose content was verified to hash to `digest` into the bucket; the file is consumed. */
  async commit(verifiedFile: string, digest: string): Promise<void> {
    const d = parseDigest(digest)
    if ((await this.stat(d.digest)) === undefined) {
      await new Upload({
        client: this.#o.client,
        params: { Bucket: this.#o.bucket, Key: this.key(d.digest), Body: createReadStream(verifiedFile) },
        partSize: this.#o.partSize,
        queueSize: 2,
      }).done()
    }
    await unlink(verifiedFile)
  }

  /** A presigned GET of the blob, valid for redirectTtlS; undefined when redirects are off. */
  async redirectUrl(digest: string): Promise<string | undefined> {
    if (this.#o.redirectTtlS <= 0) return undefined
    return getSignedUrl(this.#o.client, new GetObjectCommand({ Bucket: this.#o.bucket, Key: this.key(digest) }), {
      expiresIn: this.#o.redirectTtlS,
    })
  }

  async delete(digest: string): Promise<void> {
    await this.#o.client.send(new DeleteObjectCommand({ Bucket: this.#o.bucket, Key: this.key(digest) }))
  }

  async list(): Promise<string[]> {
    const out: string[] = []
    const prefix = `${this.#o.prefix}blobs/`
    for (const key of await this.#keys(prefix)) {
      const m = /^([a-z0-9]+)\/[0-9a-f]{2}\/([0-9a-f]+)$/.exec(key.slice(prefix.length))
      if (m) out.push(`${m[1]}:${m[2]}`)
    }
    return out
  }

  /**
   * Writes under way in this process (each an unfinished multipart upload, which lists as no object). Those of a
   * process that died mid-write are parts S3 keeps until a bucket lifecycle rule (AbortIncompleteMultipartUpload)
   * drops them; they are never visible as blobs.
   */
  async temporaries(): Promise<string[]> {
    return [...this.#pending]
  }

  /**
   * Streams the blob into a multipart upload at its own key while hashing it, one part in memory at a time, and
   * completes the upload only when digest and size verify: until CompleteMultipartUpload there is no object, so
   * nothing unverified is ever visible, and there is no copy afterwards (S3 has no rename). A blob that fits in one
   * part is sent with one PutObject after it verified.
   */
  async #write(digest: string, algorithm: string, source: Readable, size: number | undefined): Promise<WriteResult> {
    const { client, bucket, partSize } = this.#o
    const key = this.key(digest)
    const marker = `${key}#${randomUUID()}`
    this.#pending.add(marker)
    const hash = createHash(algorithm)
    let total = 0
    let held: Buffer[] = []
    let heldBytes = 0
    let uploadId: string | undefined
    const parts: { ETag: string; PartNumber: number }[] = []
    const sendPart = async (body: Buffer) => {
      uploadId ??= (await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }))).UploadId
      const n = parts.length + 1
      const res = await client.send(
        new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: n, Body: body }),
      )
      parts.push({ ETag: res.ETag ?? '', PartNumber: n })
    }
    try {
      for await (const chunk of source) {
        const buf = chunk as Buffer
        hash.update(buf)
        total += buf.byteLength
        held.push(buf)
        heldBytes += buf.byteLength
        // reading waits while a part is sent: memory stays at one part whatever the blob's size
        while (heldBytes >= partSize) {
          const all = Buffer.concat(held)
          held = [all.subarray(partSize)]
          heldBytes = all.byteLength - partSize
          await sendPart(all.subarray(0, partSize))
        }
      }
      check(digest, `${algorithm}:${hash.digest('hex')}`, size, total)
      const rest = Buffer.concat(held)
      if (uploadId === undefined) {
        await client.send(
          new PutObjectCommand({ Bucket: bucket, Key: key, Body: rest, ContentLength: rest.byteLength }),
        )
      } else {
        if (rest.byteLength > 0) await sendPart(rest)
        await client.send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts },
          }),
        )
      }
      return { digest, size: total, written: true }
    } catch (err) {
      if (uploadId !== undefined)
        await client
          .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }))
          .catch(() => undefined)
      throw err
    } finally {
      this.#pending.delete(marker)
    }
  }

  async #keys(prefix: string): Promise<string[]> {
    const keys: string[] = []
    let token: string | undefined
    do {
      const page = await this.#o.client.send(
        new ListObjectsV2Command({ Bucket: this.#o.bucket, Prefix: prefix, ContinuationToken: token }),
      )
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key)
      token = page.IsTruncated ? page.NextContinuationToken : undefined
    } while (token)
    return keys
  }
}

/** Passes bytes `start` to `end` (inclusive) of what flows through, and drops the rest. */
class Slice extends Transform {
  #offset = 0
  readonly #start: number
  readonly #end: number

  constructor(start: number, end: number) {
    super()
    this.#start = start
    this.#end = end
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void): void {
    const from = this.#offset
    this.#offset += chunk.byteLength
    const a = Math.max(this.#start - from, 0)
    const b = Math.min(this.#end + 1 - from, chunk.byteLength)
    done(null, b > a ? chunk.subarray(a, b) : undefined)
  }
}

/** Hashes what passes through, counting bytes. */
class Hasher extends Transform {
  readonly #hash: Hash
  readonly #algorithm: string
  #size = 0

  constructor(algorithm: string) {
    super()
    this.#algorithm = algorithm
    this.#hash = createHash(algorithm)
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void): void {
    this.#hash.update(chunk)
    this.#size += chunk.byteLength
    done(null, chunk)
  }

  result(): { digest: string; size: number } {
    return { digest: `${this.#algorithm}:${this.#hash.digest('hex')}`, size: this.#size }
  }
}

async function hashOf(source: Readable, algorithm: string): Promise<{ digest: string; size: number }> {
  const hasher = new Hasher(algorithm)
  await pipeline(source, hasher, async (chunks: AsyncIterable<Buffer>) => {
    for await (const _ of chunks) void _
  })
  return hasher.result()
}

function check(expected: string, found: string, expectedSize: number | undefined, foundSize: number): void {
  if (expectedSize !== undefined && expectedSize !== foundSize)
    throw new IntegrityError('EBADSIZE', expectedSize, foundSize)
  if (found !== expected) throw new IntegrityError('EINTEGRITY', expected, found)
}

function notFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } }
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404
}
