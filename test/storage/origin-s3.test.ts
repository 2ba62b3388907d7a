/**
 * The origin with its blobs in S3-compatible storage (ORIGIN_S3_BUCKET, here s3rver): monolithic, streamed and
 * chunked pushes land in the bucket only once verified, pulls and Range reads come back from it, nothing goes under
 * the data folder's blobs/, /readyz asks the bucket, and docker pushes and pulls through it.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../origin/config.ts'
import { ConfigError } from '../../lib/config.ts'
import { digestOf, pushImage } from '../helpers/oci-fixtures.ts'
import {
  closeHttp,
  getBlob,
  getManifest,
  headBlob,
  http,
  putBlob,
  startUpload,
  streamedUpload,
  uploadUrl,
} from '../helpers/registry-http.ts'
import { startS3, type S3Endpoint } from '../helpers/s3.ts'
import { startCache } from '../helpers/start-cache.ts'
import { clientSandbox, describeWithClients, pulledDigest, pushedDigest } from '../helpers/clients.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'

let s3: S3Endpoint
let origin: Awaited<ReturnType<typeof startOrigin>>
let client: S3Client

beforeAll(async () => {
  s3 = await startS3(['registry'])
  origin = await startOrigin({
    env: {
      ORIGIN_S3_BUCKET: 'registry',
      ORIGIN_S3_ENDPOINT: s3.endpoint,
      ORIGIN_S3_FORCE_PATH_STYLE: 'true',
      ORIGIN_S3_PREFIX: 'wharf/',
      ORIGIN_S3_PART_SIZE: '5MiB',
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    },
  })
  client = new S3Client({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  })
})
afterAll(async () => {
  client?.destroy()
  await closeHttp(origin.url)
  await origin?.close()
  await s3?.stop()
})

async function bucketKeys(): Promise<string[]> {
  const page = await client.send(new ListObjectsV2Command({ Bucket: 'registry', Prefix: 'wharf/' }))
  return (page.Contents ?? []).map((o) => o.Key!)
}

const keyOf = (digest: string) => `wharf/blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}`

describe('an origin with its blobs in S3', () => {
  it('keeps monolithic, streamed and chunked pushes in the bucket, and serves them whole and by range', async () => {
    const small = randomBytes(200_000)
    const big = randomBytes(12 * 1024 * 1024 + 5)
    const parts = [randomBytes(3 * 1024 * 1024), randomBytes(3 * 1024 * 1024), randomBytes(1234)]
    const chunkedBlob = Buffer.concat(parts)

    const mono = await putBlob(origin.url, 'admin/s3', small, digestOf(small))
    expect(mono.status).toBe(201)
    expect((await streamedUpload(origin.url, 'admin/s3', big, digestOf(big))).put.status).toBe(201)
    // three PATCHes with Content-Range, then the closing PUT
    const { location } = await startUpload(origin.url, 'admin/s3')
    let next = location
    let offset = 0
    for (const part of parts) {
      const res = await http('PATCH', uploadUrl(origin.url, next), {
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${offset}-${offset + part.length - 1}`,
          'content-length': String(part.length),
        },
        body: part,
      })
      expect(res.status).toBe(202)
      next = res.headers.location ?? next
      offset += part.length
    }
    const done = await http('PUT', uploadUrl(origin.url, next, { digest: digestOf(chunkedBlob) }), {
      headers: { 'content-length': '0' },
    })
    expect(done.status).toBe(201)

    const keys = await bucketKeys()
    for (const b of [small, big, chunkedBlob]) expect(keys).toContain(keyOf(digestOf(b)))
    expect(existsSync(join(origin.dataDir, 'blobs'))).toBe(false)

    for (const b of [small, big, chunkedBlob]) {
      const got = await getBlob(origin.url, 'admin/s3', digestOf(b))
      expect(got.status).toBe(200)
      expect(got.body.equals(b)).toBe(true)
      expect((await headBlob(origin.url, 'admin/s3', digestOf(b))).headers['content-length']).toBe(String(b.length))
    }
    const range = await getBlob(origin.url, 'admin/s3', digestOf(big), { range: 'bytes=5242875-5242884' })
    expect(range.status).toBe(206)
    expect(range.body.equals(big.subarray(5242875, 5242885))).toBe(true)
    const first = await getBlob(origin.url, 'admin/s3', digestOf(big), { range: 'bytes=0-0' })
    expect(first.status).toBe(206)
    expect(first.body.equals(big.subarray(0, 1))).toBe(true)
  })

  it('keeps nothing of a push whose bytes do not match its digest', async () => {
    const data = randomBytes(6 * 1024 * 1024)
    const wrong = digestOf(randomBytes(10))
    const res = await putBlob(origin.url, 'admin/s3', data, wrong)
    expect(res.status).toBe(400)
    const keys = await bucketKeys()
    expect(keys).not.toContain(keyOf(wrong))
    expect(keys).not.toContain(keyOf(digestOf(data)))
  })

  it('stores and serves whole images, and /readyz asks the bucket', async () => {
    const image = await pushImage(origin.url, 'admin/s3', { ref: 'v1', layers: 2 })
    expect((await getManifest(origin.url, 'admin/s3', 'v1')).status).toBe(200)
    for (const layer of image.layers)
      expect((await getBlob(origin.url, 'admin/s3', layer.digest)).body.equals(layer.bytes)).toBe(true)
    const ready = await fetch(`${origin.url}/readyz`)
    const body = (await ready.json()) as { checks: Record<string, { ok: boolean; detail: string }> }
    expect(ready.status).toBe(200)
    expect(body.checks.s3).toMatchObject({ ok: true, detail: 'bucket registry answers' })
  })

  it('names a half-given S3 configuration as a mistake', () => {
    expect(() => loadConfig({ ORIGIN_S3_ENDPOINT: 'http://127.0.0.1:9000' })).toThrow(ConfigError)
    expect(() => loadConfig({ ORIGIN_S3_BUCKET: 'registry', ORIGIN_S3_PART_SIZE: '1MiB' })).toThrow(
      /ORIGIN_S3_PART_SIZE/,
    )
    expect(loadConfig({ ORIGIN_S3_BUCKET: 'registry' }).s3).toMatchObject({
      bucket: 'registry',
      region: 'us-east-1',
      prefix: '',
    })
  })
})

describeWithClients('docker against an origin with its blobs in S3', (clients) => {
  it('pushes, forgets and pulls an image again with the same digest', async () => {
    const sb = clientSandbox(clients, 's3-docker')
    try {
      await sb.login(origin.host, TEST_ADMIN)
      const ctx = join(sb.dir, 'ctx')
      mkdirSync(ctx)
      writeFileSync(join(ctx, 'a.bin'), randomBytes(7 * 1024 * 1024))
      writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.bin /a.bin\n')
      const ref = `${origin.host}/admin/s3-docker:v1`
      await sb.docker(['build', '-t', ref, ctx])
      const pushed = pushedDigest((await sb.docker(['push', ref])).output)
      await sb.docker(['rmi', ref])
      expect(pulledDigest((await sb.docker(['pull', ref])).output)).toBe(pushed)
      await sb.docker(['rmi', ref])
      const manifest = JSON.parse((await getManifest(origin.url, 'admin/s3-docker', 'v1')).body.toString()) as {
        layers: { digest: string }[]
      }
      expect(await bucketKeys()).toContain(keyOf(manifest.layers[0]!.digest))
    } finally {
      sb.cleanup()
    }
  })
})

describe('an origin that redirects blob GETs to presigned URLs (ORIGIN_S3_REDIRECT)', () => {
  let redirecting: Awaited<ReturnType<typeof startOrigin>>
  const logs: Record<string, unknown>[] = []
  const blob = randomBytes(3 * 1024 * 1024 + 3)

  beforeAll(async () => {
    redirecting = await startOrigin({
      logLines: logs,
      env: {
        ORIGIN_S3_BUCKET: 'registry',
        ORIGIN_S3_ENDPOINT: s3.endpoint,
        ORIGIN_S3_FORCE_PATH_STYLE: 'true',
        ORIGIN_S3_PREFIX: 'redirecting/',
        ORIGIN_S3_REDIRECT: 'true',
        ORIGIN_S3_REDIRECT_TTL: '1m',
        AWS_ACCESS_KEY_ID: s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      },
    })
    expect((await putBlob(redirecting.url, 'admin/direct', blob, digestOf(blob))).status).toBe(201)
  })
  afterAll(async () => {
    await closeHttp(redirecting.url)
    await redirecting?.close()
  })

  const redirects = () => logs.filter((l) => l.redirect === 'object-storage').length

  it('answers a GET with a 307 to the bucket, where the bytes and their ranges are', async () => {
    const res = await getBlob(redirecting.url, 'admin/direct', digestOf(blob))
    expect(res.status).toBe(307)
    const location = res.headers.location!
    expect(location.startsWith(`${s3.endpoint}/registry/redirecting/blobs/sha256/`)).toBe(true)
    expect(new URL(location).searchParams.get('X-Amz-Expires')).toBe('60')
    const whole = await fetch(location)
    expect(Buffer.from(await whole.arrayBuffer()).equals(blob)).toBe(true)
    const part = await fetch(location, { headers: { range: 'bytes=10-19' } })
    expect(part.status).toBe(206)
    expect(Buffer.from(await part.arrayBuffer()).equals(blob.subarray(10, 20))).toBe(true)
    // HEAD stays here, and unknown blobs are a 404 here, never a redirect
    expect((await headBlob(redirecting.url, 'admin/direct', digestOf(blob))).status).toBe(200)
    expect((await getBlob(redirecting.url, 'admin/direct', digestOf(randomBytes(4)))).status).toBe(404)
  })

  describeWithClients('docker', (clients) => {
    it('pulls through the presigned redirects', async () => {
      const sb = clientSandbox(clients, 's3-redirect')
      try {
        await sb.login(redirecting.host, TEST_ADMIN)
        const ctx = join(sb.dir, 'ctx')
        mkdirSync(ctx)
        writeFileSync(join(ctx, 'b.bin'), randomBytes(2 * 1024 * 1024))
        writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY b.bin /b.bin\n')
        const ref = `${redirecting.host}/admin/s3-redirect:v1`
        await sb.docker(['build', '-t', ref, ctx])
        const pushed = pushedDigest((await sb.docker(['push', ref])).output)
        await sb.docker(['rmi', ref])
        const before = redirects()
        expect(pulledDigest((await sb.docker(['pull', ref])).output)).toBe(pushed)
        // the config and the layer came from the bucket
        expect(redirects()).toBeGreaterThanOrEqual(before + 2)
        await sb.docker(['rmi', ref])
      } finally {
        sb.cleanup()
      }
    })
  })

  it('lets a cache node fill from the presigned URL', async () => {
    const cache = await startCache({ originUrl: redirecting.url })
    try {
      const before = redirects()
      const got = await getBlob(cache.url, 'admin/direct', digestOf(blob))
      expect(got.status).toBe(200)
      expect(got.body.equals(blob)).toBe(true)
      expect(redirects()).toBe(before + 1)
    } finally {
      await closeHttp(cache.url)
      await cache.close()
    }
  })
})
