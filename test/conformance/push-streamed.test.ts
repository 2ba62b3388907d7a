/**
 * OCI conformance, Push workflow, streamed uploads: distribution-spec v1.1.1 conformance/02_push_test.go "Blob Upload Streamed" (docker push does this).
 */
import { describe, expect, it } from 'vitest'
import { chunked } from '../helpers/registry-http.ts'
import { locationPath, randomBlob, repoName } from '../helpers/oci-fixtures.ts'
import { openSession, patch, putUpload, expectBlobCreated, base, useOrigin } from './push-helpers.ts'

useOrigin()

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
