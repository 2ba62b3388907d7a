/**
 * OCI conformance, Push workflow, chunked uploads and upload cancel: conformance/02_push_test.go "Blob Upload Chunked" and the rewritten suite's "post cancel".
 */
import { describe, expect, it } from 'vitest'
import { http } from '../helpers/registry-http.ts'
import { expectOciError, locationPath, randomBlob, repoName, resolveLocation } from '../helpers/oci-fixtures.ts'
import { openSession, chunk, putUpload, expectBlobCreated, expectBlobAbsent, base, useOrigin } from './push-helpers.ts'

useOrigin()

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
    await expectBlobCreated(
      await putUpload(loc, data.digest, data.bytes.subarray(60), { 'content-range': '60-89' }),
      repo,
      data,
    )
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
