/** What the push conformance files (push-*.test.ts) share: one origin per file and the upload and check helpers. */
import { afterAll, beforeAll, expect } from 'vitest'
import { closeHttp, http, type chunked, type HttpResult } from '../helpers/registry-http.ts'
import {
  MT,
  digestOf,
  expectOciError,
  locationPath,
  resolveLocation,
  v2url,
  type Content,
  type ManifestDoc,
} from '../helpers/oci-fixtures.ts'
import { startOrigin } from '../helpers/start-origin.ts'

let origin: Awaited<ReturnType<typeof startOrigin>> | undefined
/** The origin's URL, once `useOrigin()`'s beforeAll ran. */
export let base: string

/** Starts one origin for the calling test file (beforeAll) and stops it after (afterAll). */
export function useOrigin(): void {
  beforeAll(async () => {
    origin = await startOrigin()
    base = origin.url
  })
  afterAll(async () => {
    if (!origin) return
    await closeHttp(origin.url)
    await origin.close()
  })
}

export const MISSING = digestOf('hello world')

export async function post(
  repo: string,
  query: Record<string, string> = {},
  body?: Buffer,
  headers: Record<string, string> = {},
) {
  return http('POST', v2url(base, `${repo}/blobs/uploads/`, query), { headers, body })
}

/** POST /blobs/uploads/ that must open a session: 202 with a Location under /v2/<repo>/blobs/uploads/. */
export async function openSession(repo: string): Promise<string> {
  const res = await post(repo, {}, undefined, { 'content-length': '0' })
  expect(res.status).toBe(202)
  expect(locationPath(base, res).startsWith(`/v2/${repo}/blobs/uploads/`)).toBe(true)
  return res.headers.location!
}

export function patch(
  location: string,
  body: Buffer | ReturnType<typeof chunked>,
  headers: Record<string, string> = {},
) {
  return http('PATCH', resolveLocation(base, location), {
    headers: { 'content-type': MT.octetStream, ...headers },
    body,
  })
}

export function chunk(location: string, data: Buffer, start: number) {
  return patch(location, data, {
    'content-length': String(data.length),
    'content-range': `${start}-${start + data.length - 1}`,
  })
}

export function putUpload(location: string, digest: string, body?: Buffer, headers: Record<string, string> = {}) {
  return http('PUT', resolveLocation(base, location, { digest }), {
    headers: { 'content-type': MT.octetStream, 'content-length': String(body?.length ?? 0), ...headers },
    body,
  })
}

/** A 201 for a blob: Location exactly /v2/<repo>/blobs/<digest>, Docker-Content-Digest, and the blob is served. */
export async function expectBlobCreated(res: HttpResult, repo: string, blob: Content): Promise<void> {
  expect(res.status, res.body.toString('utf8')).toBe(201)
  expect(locationPath(base, res)).toBe(`/v2/${repo}/blobs/${blob.digest}`)
  expect(res.headers['docker-content-digest']).toBe(blob.digest)
  expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0')
  await expectBlobServed(repo, blob, res.headers.location!)
}

export async function expectBlobServed(repo: string, blob: Content, location?: string): Promise<void> {
  const get = await http(
    'GET',
    location ? resolveLocation(base, location) : v2url(base, `${repo}/blobs/${blob.digest}`),
  )
  expect(get.status).toBe(200)
  expect(get.body.equals(blob.bytes)).toBe(true)
  expect(get.headers['docker-content-digest']).toBe(blob.digest)
  const head = await http('HEAD', v2url(base, `${repo}/blobs/${blob.digest}`))
  expect(head.status).toBe(200)
  expect(head.headers['content-length']).toBe(String(blob.size))
  expect(head.headers['docker-content-digest']).toBe(blob.digest)
}

export async function expectBlobAbsent(repo: string, digest: string): Promise<void> {
  expectOciError(await http('GET', v2url(base, `${repo}/blobs/${digest}`)), 404, 'BLOB_UNKNOWN')
  expect((await http('HEAD', v2url(base, `${repo}/blobs/${digest}`))).status).toBe(404)
}

/** A 201 for a manifest: Location resolves to the manifest by digest, which serves the exact bytes and type. */
export async function expectManifestCreated(res: HttpResult, repo: string, m: ManifestDoc): Promise<void> {
  expect(res.status, res.body.toString('utf8')).toBe(201)
  expect(res.headers['docker-content-digest']).toBe(m.digest)
  expect(locationPath(base, res)).toBe(`/v2/${repo}/manifests/${m.digest}`)
  const get = await http('GET', resolveLocation(base, res.headers.location!), {
    headers: { accept: [MT.ociIndex, MT.ociManifest] },
  })
  expect(get.status).toBe(200)
  expect(get.body.equals(m.bytes)).toBe(true)
  expect(get.headers['content-type']).toBe(m.mediaType)
  expect(get.headers['content-length']).toBe(String(m.size))
  expect(get.headers['docker-content-digest']).toBe(m.digest)
}
