/**
 * OCI conformance, Push workflow, digests across every upload method (the rewritten suite on main): sha512 blobs and manifests, zero-byte blobs, and bad-digest uploads by every method.
 */
import { describe, expect, it } from 'vitest'
import { chunked, http, type HttpResult } from '../helpers/registry-http.ts'
import {
  EMPTY_SHA256,
  EMPTY_SHA512,
  MT,
  content,
  descriptor,
  digestOf,
  expectOciError,
  imageConfig,
  imageIndex,
  imageManifest,
  manifestDescriptor,
  pushBlob,
  pushImage,
  putManifest,
  randomBlob,
  repoName,
  v2url,
  type Algorithm,
} from '../helpers/oci-fixtures.ts'
import {
  post,
  openSession,
  patch,
  chunk,
  putUpload,
  expectBlobCreated,
  expectBlobAbsent,
  expectManifestCreated,
  base,
  useOrigin,
} from './push-helpers.ts'

useOrigin()

describe('sha512 (CF2 "blobs sha512", "Digest Algorithm sha512")', () => {
  const repo = repoName('push-sha512')
  const alg: Algorithm = 'sha512'

  it('POST+PUT with ?digest=sha512:… → 201 with the sha512 digest; HEAD and GET serve it', async () => {
    const blob = randomBlob(512, alg)
    expect(blob.digest).toMatch(/^sha512:[a-f0-9]{128}$/)
    const loc = await openSession(repo)
    await expectBlobCreated(await putUpload(loc, blob.digest, blob.bytes), repo, blob)
  })

  it('POST ?digest=sha512:… with the body → 201', async () => {
    const blob = randomBlob(512, alg)
    const res = await post(repo, { digest: blob.digest }, blob.bytes, { 'content-type': MT.octetStream })
    await expectBlobCreated(res, repo, blob)
  })

  it('streamed PATCH then PUT ?digest=sha512:… → 201', async () => {
    const blob = randomBlob(4096, alg)
    const loc = await openSession(repo)
    const p = await patch(loc, chunked(blob.bytes, 1000))
    expect(p.status).toBe(202)
    await expectBlobCreated(await putUpload(p.headers.location!, blob.digest), repo, blob)
  })

  it('chunked PATCHes then PUT ?digest=sha512:… → 201', async () => {
    const blob = randomBlob(1500, alg)
    const loc = await openSession(repo)
    expect((await chunk(loc, blob.bytes.subarray(0, 700), 0)).status).toBe(202)
    expect((await chunk(loc, blob.bytes.subarray(700), 700)).status).toBe(202)
    await expectBlobCreated(await putUpload(loc, blob.digest), repo, blob)
  })

  it('mount of a sha512 blob → 201', async () => {
    const blob = randomBlob(100, alg)
    await pushBlob(base, repo, blob)
    const target = repoName('sha512-mount')
    await expectBlobCreated(await post(target, { mount: blob.digest, from: repo }), target, blob)
  })

  it('an image and an index addressed entirely by sha512, pushed and pulled by sha512 digest', async () => {
    const img = await pushImage(base, repo, { algorithm: alg })
    expect(img.manifest.digest).toMatch(/^sha512:/)
    const get = await http('GET', v2url(base, `${repo}/manifests/${img.manifest.digest}`))
    expect(get.status).toBe(200)
    expect(get.headers['docker-content-digest']).toBe(img.manifest.digest)
    expect(get.body.equals(img.manifest.bytes)).toBe(true)
    const idx = imageIndex({ manifests: [manifestDescriptor(img.manifest)], algorithm: alg })
    await expectManifestCreated(await putManifest(base, repo, idx.digest, idx), repo, idx)
  })

  it('a manifest pushed by tag is addressed by its sha256 digest', async () => {
    const img = await pushImage(base, repo, { algorithm: alg })
    const idx = imageIndex({ manifests: [manifestDescriptor(img.manifest)], annotations: { by: 'tag' } })
    const res = await putManifest(base, repo, 'by-tag', idx)
    expect(res.status).toBe(201)
    expect(res.headers['docker-content-digest']).toBe(digestOf(idx.bytes, 'sha256'))
  })
})

describe('zero-byte blobs (CF2 "empty")', () => {
  const repo = repoName('push-empty')

  for (const [alg, digest] of [
    ['sha256', EMPTY_SHA256],
    ['sha512', EMPTY_SHA512],
  ] as const) {
    it(`${alg}: POST+PUT with an empty body → 201; HEAD says Content-Length 0; GET returns nothing`, async () => {
      const empty = content(Buffer.alloc(0), alg)
      expect(empty.digest).toBe(digest)
      const loc = await openSession(repo)
      await expectBlobCreated(await putUpload(loc, empty.digest), repo, empty)
    })
  }

  it('POST ?digest=<empty> with an empty body → 201', async () => {
    const r = repoName('push-empty-post')
    const res = await post(r, { digest: EMPTY_SHA256 }, Buffer.alloc(0), { 'content-length': '0' })
    await expectBlobCreated(res, r, content(Buffer.alloc(0)))
  })

  it('a zero-byte streamed PATCH leaves Range 0-0 and completes', async () => {
    const r = repoName('push-empty-patch')
    const loc = await openSession(r)
    const p = await patch(loc, Buffer.alloc(0))
    expect(p.status).toBe(202)
    expect(p.headers.range).toBe('0-0')
    await expectBlobCreated(await putUpload(p.headers.location!, EMPTY_SHA256), r, content(Buffer.alloc(0)))
  })

  it('a manifest may reference the zero-byte blob as a layer', async () => {
    const config = imageConfig()
    await pushBlob(base, repo, config)
    const m = imageManifest({
      config: descriptor(config, MT.ociConfig),
      layers: [{ mediaType: MT.ociLayerTar, digest: EMPTY_SHA256, size: 0 }],
    })
    await expectManifestCreated(await putManifest(base, repo, 'empty-layer', m), repo, m)
  })
})

describe('bad digests on every upload method (CF2 "bad digest …")', () => {
  const repo = repoName('push-baddigest')

  /** A blob whose bytes were corrupted after its digest was taken, as CF2 does ("oh no"). */
  function corrupted(): { digest: string; bytes: Buffer } {
    const blob = randomBlob(300)
    return { digest: blob.digest, bytes: Buffer.concat([blob.bytes, Buffer.from('oh no')]) }
  }

  async function expectRejected(res: HttpResult, digest: string, sent: Buffer): Promise<void> {
    expectOciError(res, 400, 'DIGEST_INVALID')
    // neither the claimed digest nor the bytes actually sent are served afterwards
    await expectBlobAbsent(repo, digest)
    await expectBlobAbsent(repo, digestOf(sent))
  }

  it('post only: POST ?digest= with mismatching bytes → 400 DIGEST_INVALID', async () => {
    const b = corrupted()
    await expectRejected(
      await post(repo, { digest: b.digest }, b.bytes, { 'content-type': MT.octetStream }),
      b.digest,
      b.bytes,
    )
  })

  it('post+put: PUT ?digest= with mismatching bytes → 400 DIGEST_INVALID', async () => {
    const b = corrupted()
    const loc = await openSession(repo)
    await expectRejected(await putUpload(loc, b.digest, b.bytes), b.digest, b.bytes)
  })

  it('chunked: PATCHes then PUT ?digest= → 400 DIGEST_INVALID', async () => {
    const b = corrupted()
    const loc = await openSession(repo)
    expect((await chunk(loc, b.bytes.subarray(0, 150), 0)).status).toBe(202)
    expect((await chunk(loc, b.bytes.subarray(150), 150)).status).toBe(202)
    await expectRejected(await putUpload(loc, b.digest), b.digest, b.bytes)
  })

  it('chunked with the last chunk in the PUT → 400 DIGEST_INVALID', async () => {
    const b = corrupted()
    const loc = await openSession(repo)
    expect((await chunk(loc, b.bytes.subarray(0, 150), 0)).status).toBe(202)
    const put = await putUpload(loc, b.digest, b.bytes.subarray(150), { 'content-range': `150-${b.bytes.length - 1}` })
    await expectRejected(put, b.digest, b.bytes)
  })

  it('stream: streamed PATCH then PUT ?digest= → 400 DIGEST_INVALID', async () => {
    const b = corrupted()
    const loc = await openSession(repo)
    const p = await patch(loc, chunked(b.bytes, 64))
    expect(p.status).toBe(202)
    await expectRejected(await putUpload(p.headers.location!, b.digest), b.digest, b.bytes)
  })

  it('a manifest PUT by a digest its body does not have (CF2 "bad-digest-image": trailing spaces) → 400', async () => {
    const img = await pushImage(base, repo)
    const body = Buffer.concat([img.manifest.bytes, Buffer.from('  ')])
    const res = await http('PUT', v2url(base, `${repo}/manifests/${img.manifest.digest}`), {
      headers: { 'content-type': MT.ociManifest },
      body,
    })
    expectOciError(res, 400, 'DIGEST_INVALID')
    // the original (correct) manifest is untouched
    const get = await http('GET', v2url(base, `${repo}/manifests/${img.manifest.digest}`))
    expect(get.body.equals(img.manifest.bytes)).toBe(true)
    // and the padded bytes were not stored under their own digest either
    expect((await http('HEAD', v2url(base, `${repo}/manifests/${digestOf(body)}`))).status).toBe(404)
  })

  it('a manifest PUT to "sha256:baddigeststring" → 400', async () => {
    const img = await pushImage(base, repo)
    const res = await putManifest(base, repo, 'sha256:baddigeststring', img.manifest)
    expectOciError(res, 400, 'DIGEST_INVALID')
  })
})
