/**
 * OCI conformance, Push workflow, manifest upload: conformance/02_push_test.go "Manifest Upload" plus the rewritten suite's custom fields, data field, artifacts, nondistributable layers, a manifest without top-level mediaType, nested and empty indexes, a large manifest, and `?tag=` on a push by digest.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { http } from '../helpers/registry-http.ts'
import {
  CF_LAYER,
  EMPTY_JSON_DIGEST,
  MT,
  cfManifest,
  content,
  descriptor,
  expectOciError,
  imageConfig,
  imageIndex,
  imageManifest,
  json,
  manifestDescriptor,
  pushBlob,
  pushImage,
  pushManifest,
  putManifest,
  randomBlob,
  repoName,
  v2url,
  type ManifestDoc,
} from '../helpers/oci-fixtures.ts'
import { expectBlobAbsent, expectManifestCreated, base, useOrigin } from './push-helpers.ts'

useOrigin()

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
    const res = await http('GET', v2url(base, `${repo}/manifests/${manifest.digest}`), {
      headers: { accept: MT.ociManifest },
    })
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
    const cfg = content(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
    )
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
        {
          mediaType: MT.ociLayerNondistGzip,
          digest: nd1.digest,
          size: 123456,
          urls: [`https://store.example.com/blobs/sha256/${nd1.digest.slice(7)}`],
        },
        {
          mediaType: MT.ociLayerNondistTar,
          digest: nd2.digest,
          size: 12345,
          urls: [`https://store.example.com/blobs/sha256/${nd2.digest.slice(7)}`],
        },
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
      layers: [
        { mediaType: MT.dockerForeignLayerGzip, digest: foreign.digest, size: 64, urls: ['https://example.com/x'] },
      ],
    })
    await expectManifestCreated(await putManifest(base, repo, 'foreign', m), repo, m)
  })

  it('a distributable layer that was never uploaded is still refused', async () => {
    const config = imageConfig()
    await pushBlob(base, repo, config)
    const m = imageManifest({
      config: descriptor(config, MT.ociConfig),
      layers: [descriptor(randomBlob(10), MT.ociLayerGzip)],
    })
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
      const idx = imageIndex({
        manifests: [manifestDescriptor(img.manifest)],
        algorithm,
        annotations: { t: algorithm },
      })
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
