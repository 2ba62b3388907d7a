/**
 * s3rver accepts any presigned signature, so the URLs blob GETs are redirected to are checked here instead: against
 * a SigV4 checker that itself must agree with AWS's published query-string-authentication example.
 */
import { S3Client } from '@aws-sdk/client-s3'
import { describe, expect, it } from 'vitest'
import { digestOf } from '../../oci/digest.ts'
import { S3BlobStore } from '../../origin/storage/s3-blob-store.ts'
import { checkPresignedUrl } from '../helpers/sigv4.ts'

// AWS's example (Amazon S3 API reference, "Authenticating Requests: Using Query Parameters"): GET test.txt of
// examplebucket on 2013-05-24, valid for a day, with the documentation's example keys
const AWS_EXAMPLE_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'
const AWS_EXAMPLE_URL =
  'https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256' +
  '&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z' +
  '&X-Amz-Expires=86400&X-Amz-SignedHeaders=host' +
  '&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404'

describe('the SigV4 checker', () => {
  it("accepts AWS's published presigned URL and nothing changed from it", () => {
    expect(checkPresignedUrl(AWS_EXAMPLE_URL, AWS_EXAMPLE_SECRET)).toMatchObject({
      ok: true,
      expiresAt: new Date('2013-05-25T00:00:00Z'),
    })
    expect(checkPresignedUrl(AWS_EXAMPLE_URL.replace('test.txt', 'test.txu'), AWS_EXAMPLE_SECRET).ok).toBe(false)
    expect(checkPresignedUrl(AWS_EXAMPLE_URL.replace('Expires=86400', 'Expires=86401'), AWS_EXAMPLE_SECRET).ok).toBe(
      false,
    )
    expect(checkPresignedUrl(AWS_EXAMPLE_URL, `${AWS_EXAMPLE_SECRET}x`).ok).toBe(false)
    expect(checkPresignedUrl(AWS_EXAMPLE_URL, AWS_EXAMPLE_SECRET, 'PUT').ok).toBe(false)
  })
})

describe('the redirect URLs of the S3 blob store', () => {
  const secretAccessKey = 'wharf-test-secret/with+signs'
  const store = (endpoint: string, forcePathStyle: boolean) =>
    new S3BlobStore({
      client: new S3Client({
        endpoint,
        region: 'eu-west-1',
        forcePathStyle,
        credentials: { accessKeyId: 'AKIDWHARF', secretAccessKey },
      }),
      bucket: 'registry-blobs',
      prefix: 'prod/',
      redirectTtlS: 300,
    })
  const digest = digestOf(Buffer.from('a layer'))

  for (const [name, endpoint, pathStyle] of [
    ['path style, a port', 'http://127.0.0.1:9000', true],
    ['virtual host style', 'https://s3.eu-west-1.amazonaws.com', false],
  ] as const) {
    it(`are signed for the blob's key and nothing else (${name})`, async () => {
      const before = Date.now()
      const url = (await store(endpoint, pathStyle).redirectUrl(digest))!
      const u = new URL(url)
      expect(u.pathname.endsWith(`prod/blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}`)).toBe(true)
      expect(u.searchParams.get('X-Amz-Credential')).toMatch(/^AKIDWHARF\/\d{8}\/eu-west-1\/s3\/aws4_request$/)
      const check = checkPresignedUrl(url, secretAccessKey)
      expect(check).toMatchObject({ ok: true })
      expect(check.expiresAt!.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 300_000)
      expect(check.expiresAt!.getTime()).toBeLessThanOrEqual(Date.now() + 300_000 + 1000)
      expect(checkPresignedUrl(url.replace(digest.slice(7, 20), 'f'.repeat(13)), secretAccessKey).ok).toBe(false)
      expect(checkPresignedUrl(url, 'another secret').ok).toBe(false)
    })
  }

  it('are not made when redirects are off', async () => {
    const off = new S3BlobStore({ client: new S3Client({ region: 'eu-west-1' }), bucket: 'b' })
    expect(await off.redirectUrl(digest)).toBeUndefined()
  })
})
