/**
 * OCI conformance, Content Management workflow: distribution-spec v1.1.1 conformance/04_management_test.go (delete
 * a tag, delete a manifest, the tag count drops, delete blobs, 404 afterwards) plus the rewritten suite's checks
 * that deletes take effect immediately (HEAD right after is 404), and the isolation of repositories.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeHttp, http } from '../helpers/registry-http.ts'
import {
  CF_LAYER,
  MT,
  cfManifest,
  digestOf,
  expectOciError,
  imageConfig,
  imageIndex,
  json,
  manifestDescriptor,
  pushBlob,
  pushImage,
  pushManifest,
  randomBlob,
  repoName,
  v2url,
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

const del = (path: string) => http('DELETE', v2url(base, path))
const head = (path: string) => http('HEAD', v2url(base, path))
const get = (path: string) => http('GET', v2url(base, path))
const tagsOf = async (repo: string) => json<{ tags: string[] }>(await get(`${repo}/tags/list`)).tags

describe('CF content management sequence', () => {
  const repo = repoName('mgmt')
  const TAG = 'tagtest0'
  const config = imageConfig()
  const manifest = cfManifest(config)
  let numTags = 0

  beforeAll(async () => {
    await pushBlob(base, repo, config)
    await pushBlob(base, repo, CF_LAYER)
    await pushManifest(base, repo, TAG, manifest)
    // a second manifest and tag, so the count has something to drop from
    const other = cfManifest(config, [CF_LAYER], { annotations: { keep: 'me' } })
    await pushManifest(base, repo, 'keep', other)
    numTags = (await tagsOf(repo)).length
    expect(numTags).toBe(2)
  })

  it('DELETE of the tag → 202; the tag is gone at once but the manifest stays by digest', async () => {
    const res = await del(`${repo}/manifests/${TAG}`)
    expect(res.status).toBe(202)
    expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0')
    expect((await head(`${repo}/manifests/${TAG}`)).status).toBe(404)
    expectOciError(await get(`${repo}/manifests/${TAG}`), 404, 'MANIFEST_UNKNOWN')
    expect((await head(`${repo}/manifests/${manifest.digest}`)).status).toBe(200)
    expect(await tagsOf(repo)).toEqual(['keep'])
  })

  it('DELETE of the manifest by digest → 202; GET by digest is then 404 MANIFEST_UNKNOWN', async () => {
    const res = await del(`${repo}/manifests/${manifest.digest}`)
    expect(res.status).toBe(202)
    expect((await head(`${repo}/manifests/${manifest.digest}`)).status).toBe(404)
    expectOciError(await get(`${repo}/manifests/${manifest.digest}`), 404, 'MANIFEST_UNKNOWN')
  })

  it('the tags list reflects the deletion (fewer tags than before)', async () => {
    const tags = await tagsOf(repo)
    expect(tags.length).toBeLessThan(numTags)
    expect(tags).toEqual(['keep'])
  })

  it('DELETE of the config and layer blobs → 202; GET and HEAD are then 404', async () => {
    for (const blob of [config, CF_LAYER]) {
      const res = await del(`${repo}/blobs/${blob.digest}`)
      expect(res.status).toBe(202)
      expect((await head(`${repo}/blobs/${blob.digest}`)).status).toBe(404)
      expectOciError(await get(`${repo}/blobs/${blob.digest}`), 404, 'BLOB_UNKNOWN')
    }
  })

  it('deleting again → 404 (blob BLOB_UNKNOWN, manifest MANIFEST_UNKNOWN, tag MANIFEST_UNKNOWN)', async () => {
    expectOciError(await del(`${repo}/blobs/${config.digest}`), 404, 'BLOB_UNKNOWN')
    expectOciError(await del(`${repo}/manifests/${manifest.digest}`), 404, 'MANIFEST_UNKNOWN')
    expectOciError(await del(`${repo}/manifests/${TAG}`), 404, 'MANIFEST_UNKNOWN')
  })
})

describe('manifest deletion and tags', () => {
  it('deleting a manifest by digest removes every tag pointing at it, and only those', async () => {
    const repo = repoName('mgmt-tags')
    const a = await pushImage(base, repo)
    const b = await pushImage(base, repo)
    for (const t of ['a1', 'a2', 'a3']) await pushManifest(base, repo, t, a.manifest)
    await pushManifest(base, repo, 'b1', b.manifest)
    expect((await del(`${repo}/manifests/${a.manifest.digest}`)).status).toBe(202)
    for (const t of ['a1', 'a2', 'a3']) expect((await head(`${repo}/manifests/${t}`)).status).toBe(404)
    expect(await tagsOf(repo)).toEqual(['b1'])
    const b1 = await get(`${repo}/manifests/b1`)
    expect(b1.status).toBe(200)
    expect(b1.body.equals(b.manifest.bytes)).toBe(true)
  })

  it('a deleted manifest can be pushed again', async () => {
    const repo = repoName('mgmt-repush')
    const img = await pushImage(base, repo, { ref: 'v1' })
    expect((await del(`${repo}/manifests/${img.manifest.digest}`)).status).toBe(202)
    await pushManifest(base, repo, 'v1', img.manifest)
    const res = await get(`${repo}/manifests/v1`)
    expect(res.status).toBe(200)
    expect(res.body.equals(img.manifest.bytes)).toBe(true)
  })

  it('deleting an index leaves its child manifests in place', async () => {
    const repo = repoName('mgmt-index')
    const img = await pushImage(base, repo)
    const idx = imageIndex({ manifests: [manifestDescriptor(img.manifest)] })
    await pushManifest(base, repo, 'multi', idx)
    expect((await del(`${repo}/manifests/${idx.digest}`)).status).toBe(202)
    expect((await head(`${repo}/manifests/multi`)).status).toBe(404)
    expect((await head(`${repo}/manifests/${img.manifest.digest}`)).status).toBe(200)
  })

  it('deleting a sha512-addressed manifest works by its sha512 digest', async () => {
    const repo = repoName('mgmt-sha512')
    const img = await pushImage(base, repo, { algorithm: 'sha512' })
    expect((await del(`${repo}/manifests/${img.manifest.digest}`)).status).toBe(202)
    expect((await head(`${repo}/manifests/${img.manifest.digest}`)).status).toBe(404)
    expect((await del(`${repo}/blobs/${img.config.digest}`)).status).toBe(202)
    expect((await head(`${repo}/blobs/${img.config.digest}`)).status).toBe(404)
  })
})

describe('deletes stay within one repository', () => {
  it('deleting a blob in one repository leaves it readable where it was mounted', async () => {
    const a = repoName('mgmt-iso-a')
    const b = repoName('mgmt-iso-b')
    const blob = randomBlob(200)
    await pushBlob(base, a, blob)
    const mount = await http('POST', v2url(base, `${b}/blobs/uploads/`, { mount: blob.digest, from: a }))
    expect(mount.status).toBe(201)
    expect((await del(`${a}/blobs/${blob.digest}`)).status).toBe(202)
    expect((await head(`${a}/blobs/${blob.digest}`)).status).toBe(404)
    const res = await get(`${b}/blobs/${blob.digest}`)
    expect(res.status).toBe(200)
    expect(res.body.equals(blob.bytes)).toBe(true)
  })

  it('deleting a manifest in one repository leaves the same manifest in another', async () => {
    const a = repoName('mgmt-iso-ma')
    const b = repoName('mgmt-iso-mb')
    const config = imageConfig()
    for (const r of [a, b]) {
      await pushBlob(base, r, config)
      await pushBlob(base, r, CF_LAYER)
    }
    const m = cfManifest(config)
    await pushManifest(base, a, 'same', m)
    await pushManifest(base, b, 'same', m)
    expect((await del(`${a}/manifests/${m.digest}`)).status).toBe(202)
    expect((await head(`${a}/manifests/same`)).status).toBe(404)
    const res = await get(`${b}/manifests/same`)
    expect(res.status).toBe(200)
    expect(res.body.equals(m.bytes)).toBe(true)
  })

  it('a deleted blob can be pushed again and is served', async () => {
    const repo = repoName('mgmt-blob-repush')
    const blob = randomBlob(100)
    await pushBlob(base, repo, blob)
    expect((await del(`${repo}/blobs/${blob.digest}`)).status).toBe(202)
    await pushBlob(base, repo, blob)
    const res = await get(`${repo}/blobs/${blob.digest}`)
    expect(res.status).toBe(200)
    expect(res.body.equals(blob.bytes)).toBe(true)
  })
})

describe('delete errors', () => {
  const repo = repoName('mgmt-errors')

  beforeAll(async () => {
    await pushImage(base, repo, { ref: 'exists' })
  })

  it('DELETE of an unknown blob → 404 BLOB_UNKNOWN', async () => {
    expectOciError(await del(`${repo}/blobs/${digestOf('never pushed')}`), 404, 'BLOB_UNKNOWN')
  })

  it('DELETE of an unknown manifest digest or tag → 404 MANIFEST_UNKNOWN', async () => {
    expectOciError(await del(`${repo}/manifests/${digestOf('never pushed')}`), 404, 'MANIFEST_UNKNOWN')
    expectOciError(await del(`${repo}/manifests/never-tagged`), 404, 'MANIFEST_UNKNOWN')
  })

  it('DELETE of a blob by an invalid digest → 400 DIGEST_INVALID', async () => {
    expectOciError(await del(`${repo}/blobs/sha256:nothex`), 400, 'DIGEST_INVALID')
  })

  it('DELETE of a manifest by an invalid digest → 400 DIGEST_INVALID', async () => {
    expectOciError(await del(`${repo}/manifests/sha256:baddigeststring`), 400, 'DIGEST_INVALID')
  })

  it('DELETE in a repository that does not exist → 404', async () => {
    const nowhere = repoName('mgmt-nowhere')
    expectOciError(await del(`${nowhere}/manifests/latest`), 404, 'MANIFEST_UNKNOWN')
    expectOciError(await del(`${nowhere}/blobs/${digestOf('x')}`), 404, 'BLOB_UNKNOWN')
  })

  it('a failed delete changed nothing', async () => {
    const res = await get(`${repo}/manifests/exists`)
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toBe(MT.ociManifest)
  })
})
