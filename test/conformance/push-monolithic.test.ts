/**
 * OCI conformance, Push workflow, monolithic uploads: conformance/02_push_test.go "Blob Upload Monolithic".
 */
import { describe, it } from 'vitest'
import { http } from '../helpers/registry-http.ts'
import {
  CF_LAYER,
  MT,
  expectOciError,
  imageConfig,
  pushBlob,
  randomBlob,
  repoName,
  v2url,
} from '../helpers/oci-fixtures.ts'
import { post, openSession, putUpload, expectBlobCreated, MISSING, base, useOrigin } from './push-helpers.ts'

useOrigin()

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
