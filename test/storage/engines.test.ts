/**
 * The engines replicas will run on, as this machine has them: a private PostgreSQL 15 reached through Kysely and
 * pg, and S3-compatible storage (s3rver) reached through @aws-sdk/client-s3 and lib-storage: a multipart upload
 * from a stream and Range reads. Groundwork for the scale-out issue: Wharf's stores do not use them yet.
 */
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { Kysely, PostgresDialect, sql } from 'kysely'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeWithPostgres, startPostgres, type Postgres } from '../helpers/postgres.ts'
import { startS3, type S3Endpoint } from '../helpers/s3.ts'

describeWithPostgres('a private PostgreSQL 15 through Kysely', () => {
  let server: Postgres
  beforeAll(async () => {
    server = await startPostgres()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it('creates a table, writes in a transaction and reads it back', async () => {
    const db = new Kysely<{ things: { id: number; name: string } }>({
      dialect: new PostgresDialect({
        pool: new pg.Pool({ connectionString: await server.database('engines'), max: 2 }),
      }),
    })
    try {
      await db.schema
        .createTable('things')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('name', 'text')
        .execute()
      await db.transaction().execute(async (tx) => {
        await tx
          .insertInto('things')
          .values([
            { id: 1, name: 'one' },
            { id: 2, name: 'two' },
          ])
          .execute()
      })
      expect(await db.selectFrom('things').select(['id', 'name']).orderBy('id').execute()).toEqual([
        { id: 1, name: 'one' },
        { id: 2, name: 'two' },
      ])
      const version = await sql<{ v: string }>`SELECT current_setting('server_version_num') AS v`.execute(db)
      expect(Number(version.rows[0]!.v)).toBeGreaterThanOrEqual(150000)
    } finally {
      await db.destroy()
    }
  })
})

describe('S3-compatible storage (s3rver) through the AWS SDK', () => {
  let s3: S3Endpoint
  let client: S3Client
  beforeAll(async () => {
    s3 = await startS3(['wharf'])
    client = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    })
  })
  afterAll(async () => {
    client?.destroy()
    await s3?.stop()
  })

  it('takes a multipart upload from a stream and answers Range reads', async () => {
    const data = randomBytes(12 * 1024 * 1024)
    const upload = new Upload({
      client,
      params: {
        Bucket: 'wharf',
        Key: 'blobs/one',
        Body: Readable.from([data.subarray(0, 7_000_000), data.subarray(7_000_000)]),
      },
      partSize: 5 * 1024 * 1024,
      queueSize: 2,
    })
    await upload.done()
    const head = await client.send(new HeadObjectCommand({ Bucket: 'wharf', Key: 'blobs/one' }))
    expect(head.ContentLength).toBe(data.length)
    const part = await client.send(new GetObjectCommand({ Bucket: 'wharf', Key: 'blobs/one', Range: 'bytes=100-199' }))
    expect(Buffer.from(await part.Body!.transformToByteArray()).equals(data.subarray(100, 200))).toBe(true)
    const whole = await client.send(new GetObjectCommand({ Bucket: 'wharf', Key: 'blobs/one' }))
    const hash = createHash('sha256')
    for await (const chunk of whole.Body as Readable) hash.update(chunk as Buffer)
    expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'))
  })
})
