/**
 * OCI conformance, Push workflow: distribution-spec v1.1.1 conformance/02_push_test.go (streamed, monolithic,
 * chunked, cross-repository mount, manifest upload) plus the additions of the rewritten suite on main: upload
 * cancel, sha512 blobs and manifests, zero-byte blobs, bad-digest uploads by every method, nondistributable
 * layers that are never uploaded, custom fields, a manifest without top-level mediaType, nested and empty
 * indexes, a large manifest, and `?tag=` on a push by digest.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chunked, closeHttp, http, type HttpResult } from '../helpers/registry-http.ts'
import {
  CF_LAYER,
  EMPTY_JSON_DIGEST,
  EMPTY_SHA256,
  EMPTY_SHA512,
  MT,
  cfManifest,
  content,
  descriptor,
  digestOf,
  expectOciError,
  imageConfig,
  imageIndex,
  imageManifest,
  json,
  locationPath,
  manifestDescriptor,
  pushBlob,
  pushImage,
  pushManifest,
  putManifest,
  randomBlob,
  repoName,
  resolveLocation,
  v2url,
  type Algorithm,
  type Content,
  type ManifestDoc,
} from '../helpers/oci-fixtures.ts'
import { startOrigin } from '../helpers/start-origin.ts'

let origin: Awaited<ReturnType<typeof startOrigin>>
let base: string

beforeAll(async () => {
  origin = await startOrigin()
  base = origin.url
})

afterAll(async () => {
  if (!origin) return
  await closeHttp(origin.url)
  await origin.close()
})

const MISSING = digestOf('hello world')

async function post(repo: string, query: Record<string, string> = {}, body?: Buffer, headers: Record<string, string> = {}) {
  return http('POST', v2url(base, `${repo}/blobs/uploads/`, query), { headers, body })
}

/** POST /blobs/uploads/ that must open a session: 202 with a Location under /v2/<repo>/blobs/uploads/. */
async function openSession(repo: string): Promise<string> {
  const res = await post(repo, {}, undefined, { 'content-length': '0' })
  expect(res.status).toBe(202)
  expect(locationPath(base, res).startsWith(`/v2/${repo}/blobs/uploads/`)).toBe(true)
  return res.headers.location!
}

function patch(location: string, body: Buffer | ReturnType<typeof chunked>, headers: Record<string, string> = {}) {
  return http('PATCH', resolveLocation(base, location), { headers: { 'content-type': MT.octetStream, ...headers }, body })
}

function chunk(location: string, data: Buffer, start: number) {
  return patch(location, data, { 'content-length': String(data.length), 'content-range': `${start}-${start + data.length - 1}` })
}

function putUpload(location: string, digest: string, body?: Buffer, headers: Record<string, string> = {}) {
  return http('PUT', resolveLocation(base, location, { digest }), {
    headers: { 'content-type': MT.octetStream, 'content-length': String(body?.length ?? 0), ...headers },
    body,
  })
}

/** A 201 for a blob: Location exactly /v2/<repo>/blobs/<digest>, Docker-Content-Digest, and the blob is served. */
async function expectBlobCreated(res: HttpResult, repo: string, blob: Content): Promise<void> {
  expect(res.status, res.body.toString('utf8')).toBe(201)
  expect(locationPath(base, res)).toBe(`/v2/${repo}/blobs/${blob.digest}`)
  expect(res.headers['docker-content-digest']).toBe(blob.digest)
  expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0')
  await expectBlobServed(repo, blob, res.headers.location!)
}

async function expectBlobServed(repo: string, blob: Content, location?: string): Promise<void> {
  const get = await http('GET', location ? resolveLocation(base, location) : v2url(base, `${repo}/blobs/${blob.digest}`))
  expect(get.status).toBe(200)
  expect(get.body.equals(blob.bytes)).toBe(true)
  expect(get.headers['docker-content-digest']).toBe(blob.digest)
  const head = await http('HEAD', v2url(base, `${repo}/blobs/${blob.digest}`))
  expect(head.status).toBe(200)
  expect(head.headers['content-length']).toBe(String(blob.size))
  expect(head.headers['docker-content-digest']).toBe(blob.digest)
}

async function expectBlobAbsent(repo: string, digest: string): Promise<void> {
  expectOciError(await http('GET', v2url(base, `${repo}/blobs/${digest}`)), 404, 'BLOB_UNKNOWN')
  expect((await http('HEAD', v2url(base, `${repo}/blobs/${digest}`))).status).toBe(404)
}

/** A 201 for a manifest: Location resolves to the manifest by digest, which serves the exact bytes and type. */
async function expectManifestCreated(res: HttpResult, repo: string, m: ManifestDoc): Promise<void> {
  expect(res.status, res.body.toString('utf8')).toBe(201)
  expect(res.headers['docker-content-digest']).toBe(m.digest)
  expect(locationPath(base, res)).toBe(`/v2/${repo}/manifests/${m.digest}`)
  const get = await http('GET', resolveLocation(base, res.headers.location!), { headers: { accept: [MT.ociIndex, MT.ociManifest] } })
  expect(get.status).toBe(200)
  expect(get.body.equals(m.bytes)).toBe(true)
  expect(get.headers['content-type']).toBe(m.mediaType)
  expect(get.headers['content-length']).toBe(String(m.size))
  expect(get.headers['docker-content-digest']).toBe(m.digest)
}

describe('blob upload, streamed (CF "Blob Upload Streamed"; docker push does this)', () => {
  const repo = repoName('push-stream')

  it('POST → 202, PATCH with the blob in a chunked body → 202 with Range 0-<size-1>, PUT ?digest= → 201', async () => {
    const blob = randomBlob(42)
    const loc = await openSession(repo)
    const p = await patch(loc, chunked(blob.bytes, 10))
    expect(p.status).toBe(202)
    expect(p.headers.range).toBe(`0-${blob.size - 1}`)
    expect(locationPath(base, p).startsWith(`/v2/${repo}/blobs/uploads/`)).toBe(true)
    await expectBlobCreated(await putUpload(p.headers.location!, blob.digest), repo, blob)
  })

  it('a streamed PATCH of 3 MiB (several TCP writes) completes with the right Range and digest', async () => {
    const blob = randomBlob(3 * 1024 * 1024 + 17)
    const loc = await openSession(repo)
    const p = await patch(loc, chunked(blob.bytes, 64 * 1024))
    expect(p.status).toBe(202)
    expect(p.headers.range).toBe(`0-${blob.size - 1}`)
    await expectBlobCreated(await putUpload(p.headers.location!, blob.digest), repo, blob)
  })

  it('a PATCH with Content-Length but no Content-Range is also a streamed chunk', async () => {
    const blob = randomBlob(100)
    const loc = await openSession(repo)
    const p = await patch(loc, blob.bytes)
    expect(p.status).toBe(202)
    expect(p.headers.range).toBe(`0-${blob.size - 1}`)
    await expectBlobCreated(await putUpload(p.headers.location!, blob.digest), repo, blob)
  })
})

describe('blob upload, monolithic (CF "Blob Upload Monolithic")', () => {
  const repo = repoName('push-mono')

  it('GET of a nonexistent blob is 404', async () => {
    expectOciError(await http('GET', v2url(base, `${repo}/blobs/${MISSING}`)), 404, 'BLOB_UNKNOWN')
  })

  it('POST ?digest= with the blob is 201 (this registry stores it at once), then GET is 200', async () => {
    const blob = imageConfig()
    const res = await post(repo, { digest: blob.digest }, blob.bytes, {
      'content-type': MT.octetStream,
      'content-length': String(blob.size),
    })
    await expectBlobCreated(res, repo, blob)
  })

  it('POST yields a session (202 + Location), PUT with the body → 201, GET → 200', async () => {
    const blob = imageConfig()
    const loc = await openSession(repo)
    await expectBlobCreated(await putUpload(loc, blob.digest, blob.bytes), repo, blob)
  })

  it('PUT upload of the CF layer blob → 201 and GET → 200', async () => {
    const loc = await openSession(repo)
    await expectBlobCreated(await putUpload(loc, CF_LAYER.digest, CF_LAYER.bytes), repo, CF_LAYER)
  })

  it('pushing the same blob twice is harmless and still 201', async () => {
    const blob = randomBlob(64)
    await pushBlob(base, repo, blob)
    const loc = await openSession(repo)
    await expectBlobCreated(await putUpload(loc, blob.digest, blob.bytes), repo, blob)
  })
})

describe('blob upload, chunked (CF "Blob Upload Chunked")', () => {
  const repo = repoName('push-chunked')
  // CF: a 42-byte blob in two chunks, the first of size/2+1 bytes
  const blob = randomBlob(42)
  const chunk1 = blob.bytes.subarray(0, 22)
  const chunk2 = blob.bytes.subarray(22)
  const chunk1Range = `0-${chunk1.length - 1}`

  it('the CF sequence: 416 out of order, 202 first chunk, 416 retry, 204 status, 202 second chunk, 201 PUT', async () => {
    // out-of-order chunk on a fresh session
    const stale = await openSession(repo)
    const ooo = await chunk(stale, chunk2, chunk1.length)
    expect(ooo.status).toBe(416)
    expect(ooo.headers['docker-distribution-api-version']).toBe('registry/2.0')

    const loc = await openSession(repo)
    const first = await chunk(loc, chunk1, 0)
    expect(first.status).toBe(202)
    expect(first.headers.range).toBe(chunk1Range)
    expect(locationPath(base, first).startsWith(`/v2/${repo}/blobs/uploads/`)).toBe(true)

    // retrying the previous chunk on the session's first Location is out of order now
    const retry = await chunk(loc, chunk1, 0)
    expect(retry.status).toBe(416)

    const status = await http('GET', resolveLocation(base, loc))
    expect(status.status).toBe(204)
    expect(status.headers.range).toBe(chunk1Range)
    expect(locationPath(base, status).startsWith(`/v2/${repo}/blobs/uploads/`)).toBe(true)

    const second = await chunk(status.headers.location!, chunk2, chunk1.length)
    expect(second.status).toBe(202)
    expect(second.headers.range).toBe(`0-${blob.size - 1}`)

    await expectBlobCreated(await putUpload(second.headers.location!, blob.digest), repo, blob)
  })

  it('the 416 for an out-of-order chunk tells the current offset in Range and leaves the session usable', async () => {
    const data = randomBlob(30)
    const loc = await openSession(repo)
    expect((await chunk(loc, data.bytes.subarray(0, 10), 0)).status).toBe(202)
    const skip = await chunk(loc, data.bytes.subarray(20), 20)
    expect(skip.status).toBe(416)
    expect(skip.headers.range).toBe('0-9')
    const again = await chunk(loc, data.bytes.subarray(10), 10)
    expect(again.status).toBe(202)
    expect(again.headers.range).toBe('0-29')
    await expectBlobCreated(await putUpload(again.headers.location!, data.digest), repo, data)
  })

  it('PUT carrying the final chunk with its Content-Range → 201 (CF2 "chunked multi and put chunk")', async () => {
    const loc = await openSession(repo)
    const first = await chunk(loc, chunk1, 0)
    expect(first.status).toBe(202)
    const put = await putUpload(first.headers.location!, blob.digest, chunk2, {
      'content-range': `${chunk1.length}-${blob.size - 1}`,
    })
    await expectBlobCreated(put, repo, blob)
  })

  it('three chunks, then PUT with an empty body (CF2 "chunked multi")', async () => {
    const data = randomBlob(3 * 1000 - 5)
    let loc = await openSession(repo)
    for (let start = 0; start < data.size; start += 1000) {
      const part = data.bytes.subarray(start, Math.min(start + 1000, data.size))
      const res = await chunk(loc, part, start)
      expect(res.status).toBe(202)
      expect(res.headers.range).toBe(`0-${start + part.length - 1}`)
      loc = res.headers.location!
    }
    await expectBlobCreated(await putUpload(loc, data.digest), repo, data)
  })

  it('a PUT whose final chunk is out of order → 416, and the session then completes (CF2 out-of-order + put chunk)', async () => {
    const data = randomBlob(90)
    const loc = await openSession(repo)
    expect((await chunk(loc, data.bytes.subarray(0, 30), 0)).status).toBe(202)
    const bad = await putUpload(loc, data.digest, data.bytes.subarray(60), { 'content-range': '60-89' })
    expect(bad.status).toBe(416)
    const status = await http('GET', resolveLocation(base, loc))
    expect(status.status).toBe(204)
    expect(status.headers.range).toBe('0-29')
    expect((await chunk(loc, data.bytes.subarray(30, 60), 30)).status).toBe(202)
    await expectBlobCreated(await putUpload(loc, data.digest, data.bytes.subarray(60), { 'content-range': '60-89' }), repo, data)
  })

  it('GET of a fresh session is 204 with Location and Range 0-0', async () => {
    const loc = await openSession(repo)
    const res = await http('GET', resolveLocation(base, loc))
    expect(res.status).toBe(204)
    expect(res.headers.range).toBe('0-0')
    expect(locationPath(base, res)).toBe(new URL(loc, `${base}/`).pathname)
  })
})

describe('blob upload cancel (CF2 "post cancel")', () => {
  const repo = repoName('push-cancel')

  it('DELETE on the session → 204; the session is then unknown and the blob was never stored', async () => {
    const blob = randomBlob(512)
    const loc = await openSession(repo)
    expect((await chunk(loc, blob.bytes.subarray(0, 100), 0)).status).toBe(202)
    const del = await http('DELETE', resolveLocation(base, loc), { headers: { 'content-length': '0' } })
    expect(del.status).toBe(204)
    expectOciError(await http('GET', resolveLocation(base, loc)), 404, 'BLOB_UPLOAD_UNKNOWN')
    expectOciError(await chunk(loc, blob.bytes.subarray(100), 100), 404, 'BLOB_UPLOAD_UNKNOWN')
    expectOciError(await putUpload(loc, blob.digest, blob.bytes), 404, 'BLOB_UPLOAD_UNKNOWN')
    expectOciError(await http('DELETE', resolveLocation(base, loc)), 404, 'BLOB_UPLOAD_UNKNOWN')
    await expectBlobAbsent(repo, blob.digest)
  })
})

describe('cross-repository blob mount (CF "Cross-Repository Blob Mount")', () => {
  const source = repoName('mount-src')
  const target = repoName('mount-dst')
  const blob = randomBlob(42)

  beforeAll(async () => {
    await pushBlob(base, source, blob)
  })

  it('mount of a nonexistent blob without `from` → exactly 202 with a session Location', async () => {
    const res = await post(target, { mount: MISSING })
    expect(res.status).toBe(202)
    expect(locationPath(base, res).startsWith(`/v2/${target}/blobs/uploads/`)).toBe(true)
  })

  it('mount with `from` → 201 with Location exactly /v2/<target>/blobs/<digest>, and the blob is readable there', async () => {
    await expectBlobAbsent(target, blob.digest)
    const res = await post(target, { mount: blob.digest, from: source })
    await expectBlobCreated(res, target, blob)
  })

  it('mount of a blob the source does not have → 202 and a working session (CF2 "mount missing")', async () => {
    const other = randomBlob(42)
    const res = await post(target, { mount: other.digest, from: source })
    expect(res.status).toBe(202)
    expect(locationPath(base, res).startsWith(`/v2/${target}/blobs/uploads/`)).toBe(true)
    await expectBlobCreated(await putUpload(res.headers.location!, other.digest, other.bytes), target, other)
  })

  it('mount from a repository that does not exist → 202 session', async () => {
    const res = await post(target, { mount: blob.digest, from: repoName('nowhere') })
    expect(res.status).toBe(202)
    expect(locationPath(base, res).startsWith(`/v2/${target}/blobs/uploads/`)).toBe(true)
  })

  it('mount of an existing blob without `from` → 202 (no automatic cross-mount, OCI_AUTOMATIC_CROSSMOUNT=0)', async () => {
    const third = repoName('mount-anon')
    const res = await post(third, { mount: blob.digest })
    expect(res.status).toBe(202)
    expect(locationPath(base, res).startsWith(`/v2/${third}/blobs/uploads/`)).toBe(true)
    await expectBlobAbsent(third, blob.digest)
  })

  it('a mounted blob can be referenced by a manifest pushed to the target', async () => {
    const config = imageConfig()
    await pushBlob(base, source, config)
    expect((await post(target, { mount: config.digest, from: source })).status).toBe(201)
    const m = imageManifest({ config: descriptor(config, MT.ociConfig), layers: [descriptor(blob, MT.ociLayerGzip)] })
    await expectManifestCreated(await putManifest(base, target, 'mounted', m), target, m)
  })
})

describe('manifest upload (CF "Manifest Upload")', () => {
  const repo = repoName('push-manifest')
  const config = imageConfig()
  const manifest = cfManifest(config)
  // CF's empty-layer manifest has no top-level mediaType and `layers: []`
  const emptyLayer = cfManifest(config, [], { mediaType: null })

  beforeAll(async () => {
    await pushBlob(base, repo, config)
    await pushBlob(base, repo, CF_LAYER)
  })

  it('GET of a nonexistent manifest is 404', async () => {
    expectOciError(await http('GET', v2url(base, `${repo}/manifests/.INVALID_MANIFEST_NAME`)), 404, 'MANIFEST_UNKNOWN')
  })

  it('PUT accepts the manifest under tags test0..test3, each 201 with Location and Docker-Content-Digest', async () => {
    for (let i = 0; i < 4; i++) {
      await expectManifestCreated(await putManifest(base, repo, `test${i}`, manifest), repo, manifest)
    }
    const tags = await http('GET', v2url(base, `${repo}/tags/list`))
    expect(json(tags)).toEqual({ name: repo, tags: ['test0', 'test1', 'test2', 'test3'] })
  })

  it('accepts a manifest with no layers and no top-level mediaType (typed by Content-Type)', async () => {
    expect(emptyLayer.json.mediaType).toBeUndefined()
    const res = await putManifest(base, repo, 'emptylayer', emptyLayer)
    await expectManifestCreated(res, repo, emptyLayer)
  })

  it('GET of the manifest by digest is 200 with the exact bytes', async () => {
    const res = await http('GET', v2url(base, `${repo}/manifests/${manifest.digest}`), { headers: { accept: MT.ociManifest } })
    expect(res.status).toBe(200)
    expect(res.body.equals(manifest.bytes)).toBe(true)
  })

  it('PUT by digest stores the manifest without creating a tag', async () => {
    const other = cfManifest(config, [CF_LAYER], { annotations: { n: 'by-digest' } })
    await expectManifestCreated(await putManifest(base, repo, other.digest, other), repo, other)
    const tags = json<{ tags: string[] }>(await http('GET', v2url(base, `${repo}/tags/list`))).tags
    expect(tags).not.toContain(other.digest)
    expect(tags).toHaveLength(5)
  })

  it('a PUT to an existing tag moves the tag', async () => {
    const a = cfManifest(config, [CF_LAYER], { annotations: { v: 'a' } })
    const b = cfManifest(config, [CF_LAYER], { annotations: { v: 'b' } })
    await pushManifest(base, repo, 'moving', a)
    await pushManifest(base, repo, 'moving', b)
    const res = await http('GET', v2url(base, `${repo}/manifests/moving`))
    expect(res.headers['docker-content-digest']).toBe(b.digest)
    expect(res.body.equals(b.bytes)).toBe(true)
    // the old manifest is still there by digest
    expect((await http('HEAD', v2url(base, `${repo}/manifests/${a.digest}`))).status).toBe(200)
  })

  it('a Docker schema2 manifest is served back with its own media type', async () => {
    const cfg = content(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }))
    const layer = randomBlob(100)
    await pushBlob(base, repo, cfg)
    await pushBlob(base, repo, layer)
    const m = imageManifest({
      mediaType: MT.dockerManifest,
      config: descriptor(cfg, MT.dockerConfig),
      layers: [descriptor(layer, MT.dockerLayerGzip)],
    })
    await expectManifestCreated(await putManifest(base, repo, 'docker', m), repo, m)
  })

  it('a Content-Type with parameters is served back without them', async () => {
    const m = cfManifest(config, [CF_LAYER], { mediaType: null, annotations: { ct: 'params' } })
    const res = await putManifest(base, repo, 'ct-params', m, { contentType: `${MT.ociManifest}; charset=utf-8` })
    expect(res.status).toBe(201)
    const get = await http('GET', v2url(base, `${repo}/manifests/ct-params`))
    expect(get.headers['content-type']).toBe(MT.ociManifest)
  })

  it('a manifest with the mediaType field but no Content-Type is stored with the field’s type', async () => {
    const m = cfManifest(config, [CF_LAYER], { annotations: { ct: 'none' } })
    const res = await putManifest(base, repo, 'no-ct', m, { contentType: null })
    await expectManifestCreated(res, repo, m)
  })
})

describe('CF2 data: custom fields, data field, artifacts, nondistributable layers, indexes', () => {
  const repo = repoName('push-data')

  it('custom (unknown) fields on the manifest, descriptors and config are tolerated and kept byte for byte', async () => {
    const config = imageConfig({ 'x-unknown-config-field': { nested: [1, 2, 3] } })
    const layer = randomBlob(128)
    for (const b of [config, layer]) await pushBlob(base, repo, b)
    const m = imageManifest({
      config: descriptor(config, MT.ociConfig, { newUnspecifiedField: null, 'x-extra': 'yes' }),
      layers: [descriptor(layer, MT.ociLayerGzip, { newUnspecifiedField: null, annotations: { a: 'b' } })],
      extra: { 'x-custom-field-7f3a': { anything: [true, null, 1.5] }, newUnspecifiedField: null },
    })
    await expectManifestCreated(await putManifest(base, repo, 'custom-fields', m), repo, m)
    const idx = imageIndex({
      manifests: [manifestDescriptor(m, { platform: { os: 'linux', architecture: 'amd64' }, 'x-extra': 1 })],
      extra: { 'x-custom-index-field': 'hello' },
    })
    await expectManifestCreated(await putManifest(base, repo, 'custom-fields-index', idx), repo, idx)
  })

  it('a descriptor `data` field (base64 of the content) is accepted', async () => {
    const config = imageConfig()
    await pushBlob(base, repo, config)
    await pushBlob(base, repo, CF_LAYER)
    const m = cfManifest(config)
    expect((m.json.config as Record<string, unknown>).data).toBe(config.bytes.toString('base64'))
    await expectManifestCreated(await putManifest(base, repo, 'data-field', m), repo, m)
  })

  it('nondistributable layers that were never uploaded do not block the push (CF2 "non-distributable-layers")', async () => {
    const config = imageConfig()
    const normal = randomBlob(256)
    for (const b of [config, normal]) await pushBlob(base, repo, b)
    const nd1 = randomBlob(256)
    const nd2 = randomBlob(256)
    const m = imageManifest({
      config: descriptor(config, MT.ociConfig),
      layers: [
        { mediaType: MT.ociLayerNondistGzip, digest: nd1.digest, size: 123456, urls: [`https://store.example.com/blobs/sha256/${nd1.digest.slice(7)}`] },
        { mediaType: MT.ociLayerNondistTar, digest: nd2.digest, size: 12345, urls: [`https://store.example.com/blobs/sha256/${nd2.digest.slice(7)}`] },
        descriptor(normal, MT.ociLayerGzip),
      ],
    })
    await expectManifestCreated(await putManifest(base, repo, 'non-distributable-image', m), repo, m)
    // they were not uploaded, so they are not served
    await expectBlobAbsent(repo, nd1.digest)
  })

  it('a Docker foreign layer that was never uploaded does not block a schema2 push', async () => {
    const config = imageConfig()
    await pushBlob(base, repo, config)
    const foreign = randomBlob(64)
    const m = imageManifest({
      mediaType: MT.dockerManifest,
      config: descriptor(config, MT.dockerConfig),
      layers: [{ mediaType: MT.dockerForeignLayerGzip, digest: foreign.digest, size: 64, urls: ['https://example.com/x'] }],
    })
    await expectManifestCreated(await putManifest(base, repo, 'foreign', m), repo, m)
  })

  it('a distributable layer that was never uploaded is still refused', async () => {
    const config = imageConfig()
    await pushBlob(base, repo, config)
    const m = imageManifest({ config: descriptor(config, MT.ociConfig), layers: [descriptor(randomBlob(10), MT.ociLayerGzip)] })
    expectOciError(await putManifest(base, repo, 'missing-layer', m), 400, 'MANIFEST_BLOB_UNKNOWN')
  })

  it('artifacts: an empty-JSON config with artifactType and a custom layer type; an artifact without layers', async () => {
    const empty = content('{}')
    expect(empty.digest).toBe(EMPTY_JSON_DIGEST)
    const layer = randomBlob(64)
    for (const b of [empty, layer]) await pushBlob(base, repo, b)
    const artifact = imageManifest({
      artifactType: 'application/vnd.example.conf1',
      config: descriptor(empty, MT.ociEmpty),
      layers: [descriptor(layer, 'application/vnd.example.conf1')],
    })
    await expectManifestCreated(await putManifest(base, repo, 'artifact', artifact), repo, artifact)
    const noLayers = imageManifest({
      artifactType: 'application/vnd.example.conf1',
      config: descriptor(empty, MT.ociEmpty),
      layers: [descriptor(empty, MT.ociEmpty)],
    })
    await expectManifestCreated(await putManifest(base, repo, 'artifact-without-layers', noLayers), repo, noLayers)
  })

  it('a config blob that is not JSON, with an unknown config media type, is accepted', async () => {
    const config = randomBlob(33)
    await pushBlob(base, repo, config)
    const m = imageManifest({ config: descriptor(config, 'application/vnd.example.binary-config'), layers: [] })
    await expectManifestCreated(await putManifest(base, repo, 'binary-config', m), repo, m)
  })

  it('a multi-platform index, an empty index, and a nested index (index of indexes)', async () => {
    const platforms = [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ]
    const children: ManifestDoc[] = []
    for (let n = 0; n < 2; n++) {
      const images: ManifestDoc[] = []
      for (let i = 0; i < platforms.length; i++) images.push((await pushImage(base, repo)).manifest)
      const idx = imageIndex({ manifests: images.map((m, i) => manifestDescriptor(m, { platform: platforms[i] })) })
      await expectManifestCreated(await putManifest(base, repo, idx.digest, idx), repo, idx)
      children.push(idx)
    }
    const nested = imageIndex({ manifests: children.map((c) => manifestDescriptor(c)) })
    await expectManifestCreated(await putManifest(base, repo, 'index-of-index', nested), repo, nested)

    const empty = imageIndex({ manifests: [] })
    await expectManifestCreated(await putManifest(base, repo, 'empty-index', empty), repo, empty)
  })

  it('an index whose child manifest was not pushed is refused with MANIFEST_BLOB_UNKNOWN', async () => {
    const phantom = cfManifest(imageConfig())
    const idx = imageIndex({ manifests: [manifestDescriptor(phantom)] })
    expectOciError(await putManifest(base, repo, 'sparse-index', idx), 400, 'MANIFEST_BLOB_UNKNOWN')
    expect((await http('HEAD', v2url(base, `${repo}/manifests/${idx.digest}`))).status).toBe(404)
  })

  it('a Docker manifest list is served with its own media type', async () => {
    const img = await pushImage(base, repo)
    const list = imageIndex({
      mediaType: MT.dockerManifestList,
      manifests: [manifestDescriptor(img.manifest, { platform: { os: 'linux', architecture: 'amd64' } })],
    })
    await expectManifestCreated(await putManifest(base, repo, 'list', list), repo, list)
  })

  it('an index without top-level mediaType is typed by Content-Type', async () => {
    const img = await pushImage(base, repo)
    const idx = imageIndex({ mediaType: null, manifests: [manifestDescriptor(img.manifest)] })
    expect(idx.json.mediaType).toBeUndefined()
    expect(idx.mediaType).toBe(MT.ociIndex)
    await expectManifestCreated(await putManifest(base, repo, 'index-no-mt', idx), repo, idx)
  })

  it('a large manifest (CF2: 390 annotations of 10000 bytes, ~3.9 MB) is accepted', async () => {
    const config = imageConfig()
    await pushBlob(base, repo, config)
    const annotations: Record<string, string> = {}
    for (let i = 0; i < 390; i++) annotations[`large-annotation-${i}`] = 'A'.repeat(10000)
    const m = imageManifest({ config: descriptor(config, MT.ociConfig), layers: [], annotations })
    expect(m.size).toBeGreaterThan(3_900_000)
    await expectManifestCreated(await putManifest(base, repo, 'large-manifest', m), repo, m)
  })
})

describe('push by digest with ?tag= (CF2 "tag-param-sha256", "tag-param-sha512")', () => {
  const repo = repoName('push-tagparam')

  for (const algorithm of ['sha256', 'sha512'] as const) {
    it(`${algorithm}: PUT /manifests/<digest>?tag=a&tag=b → 201 with one OCI-Tag per tag; both tags resolve`, async () => {
      const img = await pushImage(base, repo, { algorithm, ref: undefined })
      const idx = imageIndex({ manifests: [manifestDescriptor(img.manifest)], algorithm, annotations: { t: algorithm } })
      const tags = [`tag-param-${algorithm}-0`, `tag-param-${algorithm}-1`]
      const res = await putManifest(base, repo, idx.digest, idx, { tags })
      await expectManifestCreated(res, repo, idx)
      const ociTags = (res.headers['oci-tag'] ?? '').split(',').map((s) => s.trim())
      expect(ociTags.sort()).toEqual(tags)
      for (const tag of tags) {
        const get = await http('GET', v2url(base, `${repo}/manifests/${tag}`))
        expect(get.status).toBe(200)
        expect(get.headers['docker-content-digest']).toBe(idx.digest)
        expect(get.body.equals(idx.bytes)).toBe(true)
      }
      const list = json<{ tags: string[] }>(await http('GET', v2url(base, `${repo}/tags/list`))).tags
      expect(list).toEqual(expect.arrayContaining(tags))
    })
  }

  it('a push without ?tag= sends no OCI-Tag header', async () => {
    const img = await pushImage(base, repo)
    const again = await putManifest(base, repo, img.manifest.digest, img.manifest)
    expect(again.status).toBe(201)
    expect(again.headers['oci-tag']).toBeUndefined()
  })
})

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
    await expectRejected(await post(repo, { digest: b.digest }, b.bytes, { 'content-type': MT.octetStream }), b.digest, b.bytes)
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
