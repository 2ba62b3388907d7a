/**
 * OCI conformance, Push workflow, cross-repository blob mount: conformance/02_push_test.go "Cross-Repository Blob Mount".
 */
import { beforeAll, describe, expect, it } from 'vitest'
import {
  MT,
  descriptor,
  imageConfig,
  imageManifest,
  locationPath,
  pushBlob,
  putManifest,
  randomBlob,
  repoName,
} from '../helpers/oci-fixtures.ts'
import {
  post,
  putUpload,
  expectBlobCreated,
  expectBlobAbsent,
  expectManifestCreated,
  MISSING,
  base,
  useOrigin,
} from './push-helpers.ts'

useOrigin()

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
