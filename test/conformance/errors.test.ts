/**
 * Robustness of the origin's OCI API: malformed input never produces a 500, and every error is the spec's JSON
 * (`{"errors":[{code,message,detail}]}`) with one of its 14 codes and the right status. Covers bad names, bad
 * digests, bad manifests, wrong Content-Range, unknown and foreign upload ids, oversize manifests, PUT without
 * or with a wrong digest, manifests referencing missing content, and repository isolation.
 *
 * The origin's own log is collected: the last test asserts that no request in this file ended in a 5xx.
 */
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeHttp, http, type HttpResult } from '../helpers/registry-http.ts'
import {
  MT,
  descriptor,
  digestOf,
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
  resolveLocation,
  v2url,
  type OciCode,
} from '../helpers/oci-fixtures.ts'
import { startOrigin } from '../helpers/start-origin.ts'

const logLines: Record<string, unknown>[] = []
let origin: Awaited<ReturnType<typeof startOrigin>>
let base: string

beforeAll(async () => {
  origin = await startOrigin({ logLines })
  base = origin.url
})

afterAll(async () => {
  if (!origin) return
  await closeHttp(origin.url)
  await origin.close()
})

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
const VALID_DIGEST = digestOf('some content that is never pushed')
const UNKNOWN_UUID = '3f1c2a9e-8d4b-4c6a-9e2f-0b1a2c3d4e5f'

async function openSession(repo: string): Promise<string> {
  const res = await http('POST', v2url(base, `${repo}/blobs/uploads/`))
  expect(res.status).toBe(202)
  return res.headers.location!
}

function chunk(location: string, data: Buffer, range: string, headers: Record<string, string> = {}) {
  return http('PATCH', resolveLocation(base, location), {
    headers: { 'content-type': MT.octetStream, 'content-length': String(data.length), 'content-range': range, ...headers },
    body: data,
  })
}

async function sessionRange(location: string): Promise<string | undefined> {
  const res = await http('GET', resolveLocation(base, location))
  expect(res.status).toBe(204)
  return res.headers.range
}

/** A HEAD answers with the same status as the GET, the API-version header, and no body. */
async function expectHeadMirrors(path: string, status: number): Promise<void> {
  const res = await http('HEAD', `${base}${path}`)
  expect(res.status).toBe(status)
  expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0')
  expect(res.body.byteLength).toBe(0)
}

describe('bad repository names → 400 NAME_INVALID on every endpoint', () => {
  const badNames = ['Upper/case', 'a..b', '-lead', 'trail-', 'a//b', '_under', 'a___b', 'caf%C3%A9', 'a%20b', 'a%00b', 'x'.repeat(256)]
  const endpoints: { method: Method; path: (n: string) => string }[] = [
    { method: 'GET', path: (n) => `${n}/manifests/latest` },
    { method: 'PUT', path: (n) => `${n}/manifests/latest` },
    { method: 'DELETE', path: (n) => `${n}/manifests/latest` },
    { method: 'GET', path: (n) => `${n}/blobs/${VALID_DIGEST}` },
    { method: 'DELETE', path: (n) => `${n}/blobs/${VALID_DIGEST}` },
    { method: 'POST', path: (n) => `${n}/blobs/uploads/` },
    { method: 'GET', path: (n) => `${n}/blobs/uploads/${UNKNOWN_UUID}` },
    { method: 'PATCH', path: (n) => `${n}/blobs/uploads/${UNKNOWN_UUID}` },
    { method: 'PUT', path: (n) => `${n}/blobs/uploads/${UNKNOWN_UUID}?digest=${VALID_DIGEST}` },
    { method: 'DELETE', path: (n) => `${n}/blobs/uploads/${UNKNOWN_UUID}` },
    { method: 'GET', path: (n) => `${n}/tags/list` },
    { method: 'GET', path: (n) => `${n}/referrers/${VALID_DIGEST}` },
  ]
  for (const name of badNames) {
    it(`"${name.length > 40 ? `${name.slice(0, 10)}…(${name.length})` : name}"`, async () => {
      for (const e of endpoints) {
        const res = await http(e.method, `${base}/v2/${e.path(name)}`, e.method === 'PUT' || e.method === 'PATCH' ? { body: '{}' } : {})
        expectOciError(res, 400, 'NAME_INVALID')
      }
      await expectHeadMirrors(`/v2/${name}/manifests/latest`, 400)
    })
  }

  it('a 255-character name is valid, a 256-character one is not', async () => {
    const ok = `${'a'.repeat(127)}/${'b'.repeat(127)}`
    expect(ok).toHaveLength(255)
    expectOciError(await http('GET', `${base}/v2/${ok}/tags/list`), 404, 'NAME_UNKNOWN')
    expectOciError(await http('GET', `${base}/v2/${ok}c/tags/list`), 400, 'NAME_INVALID')
  })

  it('names containing "blobs", "manifests", "uploads" or "tags" segments route correctly', async () => {
    const repo = 'conformance/blobs/manifests/uploads/tags/list'
    const img = await pushImage(base, repo, { ref: 'v1' })
    const res = await http('GET', v2url(base, `${repo}/manifests/v1`))
    expect(res.status).toBe(200)
    expect(res.body.equals(img.manifest.bytes)).toBe(true)
    expect(json(await http('GET', v2url(base, `${repo}/tags/list`)))).toEqual({ name: repo, tags: ['v1'] })
    expect((await http('GET', v2url(base, `${repo}/blobs/${img.config.digest}`))).status).toBe(200)
  })
})

describe('bad digests → 400 DIGEST_INVALID', () => {
  const repo = repoName('err-digest')
  const bad = [
    'sha256:totallywrong',
    'sha256:baddigeststring',
    `sha256:${'A'.repeat(64)}`,
    `sha256:${'a'.repeat(63)}`,
    `sha256:${'a'.repeat(65)}`,
    `sha512:${'a'.repeat(64)}`,
    'sha256:',
    ':abc',
    'sha256',
  ]

  beforeAll(async () => {
    await pushImage(base, repo, { ref: 'v1' })
  })

  for (const d of bad) {
    it(`"${d.length > 30 ? `${d.slice(0, 14)}…` : d}" on blob GET/DELETE, upload PUT/POST and referrers`, async () => {
      const enc = encodeURIComponent(d)
      expectOciError(await http('GET', `${base}/v2/${repo}/blobs/${enc}`), 400, 'DIGEST_INVALID')
      await expectHeadMirrors(`/v2/${repo}/blobs/${enc}`, 400)
      expectOciError(await http('DELETE', `${base}/v2/${repo}/blobs/${enc}`), 400, 'DIGEST_INVALID')
      expectOciError(await http('GET', `${base}/v2/${repo}/referrers/${enc}`), 400, 'DIGEST_INVALID')
      expectOciError(await http('POST', v2url(base, `${repo}/blobs/uploads/`, { digest: d }), { body: 'x' }), 400, 'DIGEST_INVALID')
      const loc = await openSession(repo)
      expectOciError(await http('PUT', resolveLocation(base, loc, { digest: d }), { body: 'x' }), 400, 'DIGEST_INVALID')
      expectOciError(await http('POST', v2url(base, `${repo}/blobs/uploads/`, { mount: d, from: repo })), 400, 'DIGEST_INVALID')
    })
  }

  it('a digest-shaped manifest reference with a bad encoding → 400 DIGEST_INVALID on GET, PUT and DELETE', async () => {
    const img = await pushImage(base, repo)
    for (const d of ['sha256:totallywrong', `sha256:${'A'.repeat(64)}`]) {
      expectOciError(await http('GET', v2url(base, `${repo}/manifests/${d}`)), 400, 'DIGEST_INVALID')
      expectOciError(await putManifest(base, repo, d, img.manifest), 400, 'DIGEST_INVALID')
      expectOciError(await http('DELETE', v2url(base, `${repo}/manifests/${d}`)), 400, 'DIGEST_INVALID')
    }
  })

  it('an algorithm the registry cannot verify (fits the grammar) is refused with an OCI error, never a 500', async () => {
    const res = await http('GET', v2url(base, `${repo}/blobs/md5:${'a'.repeat(32)}`))
    // spec: unregistered algorithms SHOULD pass validation (→ 404); this registry refuses them (→ 400)
    expectOciError(res, res.status === 404 ? 404 : 400, res.status === 404 ? 'BLOB_UNKNOWN' : 'DIGEST_INVALID')
    const loc = await openSession(repo)
    expectOciError(await http('PUT', resolveLocation(base, loc, { digest: `md5:${'a'.repeat(32)}` }), { body: 'x' }), 400, 'DIGEST_INVALID')
  })
})

describe('malformed manifests → 400 MANIFEST_INVALID, nothing stored', () => {
  const repo = repoName('err-manifest')
  let configDesc: Record<string, unknown>
  let layerDesc: Record<string, unknown>

  beforeAll(async () => {
    const config = imageConfig()
    const layer = randomBlob(64)
    await pushBlob(base, repo, config)
    await pushBlob(base, repo, layer)
    configDesc = descriptor(config, MT.ociConfig)
    layerDesc = descriptor(layer, MT.ociLayerGzip)
  })

  const manifestWith = (patch: Record<string, unknown>) =>
    JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: configDesc, layers: [layerDesc], ...patch })
  const cases: { name: string; body: () => string | Buffer; contentType?: string }[] = [
    { name: 'not JSON', body: () => 'blablabla' },
    { name: 'empty body', body: () => '' },
    { name: 'a JSON array', body: () => '[]' },
    { name: 'JSON null', body: () => 'null' },
    { name: 'a JSON string', body: () => '"manifest"' },
    { name: 'an empty object', body: () => '{}' },
    { name: 'truncated JSON', body: () => manifestWith({}).slice(0, -5) },
    { name: 'invalid UTF-8', body: () => Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) },
    { name: 'deeply nested JSON', body: () => `${'['.repeat(100_000)}${']'.repeat(100_000)}` },
    { name: 'schemaVersion 1', body: () => manifestWith({ schemaVersion: 1 }) },
    { name: 'schemaVersion "2" (a string)', body: () => manifestWith({ schemaVersion: '2' }) },
    { name: 'no schemaVersion', body: () => manifestWith({ schemaVersion: undefined }) },
    { name: 'no config', body: () => manifestWith({ config: undefined }) },
    { name: 'config is a string', body: () => manifestWith({ config: 'sha256:abc' }) },
    { name: 'config digest invalid', body: () => manifestWith({ config: { ...configDesc, digest: 'sha256:nope' } }) },
    { name: 'config digest missing', body: () => manifestWith({ config: { ...configDesc, digest: undefined } }) },
    { name: 'config size negative', body: () => manifestWith({ config: { ...configDesc, size: -1 } }) },
    { name: 'config size fractional', body: () => manifestWith({ config: { ...configDesc, size: 1.5 } }) },
    { name: 'config size a string', body: () => manifestWith({ config: { ...configDesc, size: '12' } }) },
    { name: 'config size 1e400', body: () => manifestWith({}).replace(/"size": ?\d+/, '"size":1e400') },
    { name: 'config mediaType missing', body: () => manifestWith({ config: { ...configDesc, mediaType: undefined } }) },
    { name: 'config mediaType a number', body: () => manifestWith({ config: { ...configDesc, mediaType: 7 } }) },
    { name: 'layers an object', body: () => manifestWith({ layers: { 0: layerDesc } }) },
    { name: 'a null layer', body: () => manifestWith({ layers: [null] }) },
    { name: 'annotations with a number value', body: () => manifestWith({ annotations: { a: 1 } }) },
    { name: 'annotations an array', body: () => manifestWith({ annotations: ['a'] }) },
    { name: 'subject a string', body: () => manifestWith({ subject: 'sha256:abc' }) },
    { name: 'mediaType a number', body: () => manifestWith({ mediaType: 42 }) },
    { name: 'an unsupported manifest mediaType', body: () => manifestWith({ mediaType: 'application/vnd.example.thing+json' }) },
    {
      name: 'a schema1 manifest',
      body: () => JSON.stringify({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [], history: [], signatures: [] }),
      contentType: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
    },
    { name: 'mediaType field disagreeing with Content-Type', body: () => manifestWith({}), contentType: MT.ociIndex },
    { name: 'an index without manifests', body: () => JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex }), contentType: MT.ociIndex },
    {
      name: 'an index with a broken descriptor',
      body: () => JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ mediaType: MT.ociManifest, size: 1 }] }),
      contentType: MT.ociIndex,
    },
  ]

  for (const c of cases) {
    it(c.name, async () => {
      const tag = `bad-${Math.random().toString(36).slice(2, 8)}`
      const body = c.body()
      const res = await http('PUT', v2url(base, `${repo}/manifests/${tag}`), {
        headers: { 'content-type': c.contentType ?? MT.ociManifest },
        body,
      })
      expectOciError(res, 400, 'MANIFEST_INVALID')
      expectOciError(await http('GET', v2url(base, `${repo}/manifests/${tag}`)), 404, 'MANIFEST_UNKNOWN')
      expect((await http('HEAD', v2url(base, `${repo}/manifests/${digestOf(body)}`))).status).toBe(404)
    })
  }

  it('invalid tags in the path or in ?tag= → 400, nothing stored', async () => {
    const m = imageManifest({ config: configDesc as never, layers: [layerDesc as never] })
    for (const tag of ['-lead', '.dot', 'a'.repeat(129), 'with%20space']) {
      const res = await http('PUT', `${base}/v2/${repo}/manifests/${tag}`, { headers: { 'content-type': MT.ociManifest }, body: m.bytes })
      expectOciError(res, 400, 'MANIFEST_INVALID')
    }
    // "a:b" looks like a digest with an unknown algorithm
    expectOciError(await putManifest(base, repo, 'a:b', m), 400, ['MANIFEST_INVALID', 'DIGEST_INVALID'])
    const withBadParam = await putManifest(base, repo, m.digest, m, { tags: ['good', '-bad'] })
    expectOciError(withBadParam, 400, 'MANIFEST_INVALID')
    expect((await http('HEAD', v2url(base, `${repo}/manifests/${m.digest}`))).status).toBe(404)
    expect((await http('HEAD', v2url(base, `${repo}/manifests/good`))).status).toBe(404)
    // a 128-character tag is fine
    const long = 'a'.repeat(128)
    expect((await putManifest(base, repo, long, m)).status).toBe(201)
  })
})

describe('oversize manifests → 413', () => {
  const repo = repoName('err-size')
  const LIMIT = 4 * 1024 * 1024

  /** A valid manifest padded with one annotation to exactly `size` bytes. */
  async function manifestOfSize(size: number) {
    const config = imageConfig()
    await pushBlob(base, repo, config)
    const probe = imageManifest({ config: descriptor(config, MT.ociConfig), annotations: { pad: '' } })
    const m = imageManifest({ config: descriptor(config, MT.ociConfig), annotations: { pad: 'p'.repeat(size - probe.size) } })
    expect(m.size).toBe(size)
    return m
  }

  it('a manifest of exactly 4 MiB is accepted (the spec asks for at least 4 MB)', async () => {
    const m = await manifestOfSize(LIMIT)
    expect((await putManifest(base, repo, 'four-mib', m)).status).toBe(201)
    const res = await http('GET', v2url(base, `${repo}/manifests/four-mib`))
    expect(res.body.equals(m.bytes)).toBe(true)
  })

  it('one byte more → 413 SIZE_INVALID, nothing stored', async () => {
    const m = await manifestOfSize(LIMIT + 1)
    expectOciError(await putManifest(base, repo, 'too-big', m), 413, 'SIZE_INVALID')
    expect((await http('HEAD', v2url(base, `${repo}/manifests/too-big`))).status).toBe(404)
  })

  it('a streamed (chunked transfer) body past the limit → 413 too', async () => {
    const m = await manifestOfSize(LIMIT + 4096)
    const body = Readable.from((function* () {
      for (let i = 0; i < m.bytes.length; i += 65536) yield m.bytes.subarray(i, i + 65536)
    })())
    const res = await http('PUT', v2url(base, `${repo}/manifests/streamed-big`), { headers: { 'content-type': MT.ociManifest }, body })
    expectOciError(res, 413, 'SIZE_INVALID')
  })

  it('a 16 MiB manifest → 413, and the origin keeps serving afterwards', async () => {
    const res = await http('PUT', v2url(base, `${repo}/manifests/huge`), {
      headers: { 'content-type': MT.ociManifest },
      body: Buffer.alloc(16 * 1024 * 1024, 0x20),
    })
    expectOciError(res, 413, 'SIZE_INVALID')
    expect((await http('GET', `${base}/v2/`)).status).toBe(200)
  })
})

describe('wrong Content-Range on PATCH', () => {
  const repo = repoName('err-range')

  it('every bad chunk is refused with the right status and leaves the session at its offset; it then completes', async () => {
    const blob = randomBlob(100)
    const loc = await openSession(repo)
    expect((await chunk(loc, blob.bytes.subarray(0, 40), '0-39')).status).toBe(202)

    const attempts: { range: string; data: Buffer; status: number; code: OciCode; length?: string }[] = [
      // not "<start>-<end>"
      { range: 'abc', data: blob.bytes.subarray(40, 50), status: 416, code: 'BLOB_UPLOAD_INVALID' },
      { range: '40-', data: blob.bytes.subarray(40, 50), status: 416, code: 'BLOB_UPLOAD_INVALID' },
      { range: '-49', data: blob.bytes.subarray(40, 50), status: 416, code: 'BLOB_UPLOAD_INVALID' },
      { range: '40 49', data: blob.bytes.subarray(40, 50), status: 416, code: 'BLOB_UPLOAD_INVALID' },
      // out of order: a gap, an overlap, a restart
      { range: '50-59', data: blob.bytes.subarray(50, 60), status: 416, code: 'BLOB_UPLOAD_INVALID' },
      { range: '30-39', data: blob.bytes.subarray(30, 40), status: 416, code: 'BLOB_UPLOAD_INVALID' },
      { range: '0-9', data: blob.bytes.subarray(0, 10), status: 416, code: 'BLOB_UPLOAD_INVALID' },
      // end before start
      { range: '40-30', data: blob.bytes.subarray(40, 50), status: 416, code: 'BLOB_UPLOAD_INVALID' },
      // an empty range at the session's offset, with an empty body: names no byte, so it is no chunk either
      { range: '40-39', data: Buffer.alloc(0), status: 416, code: 'BLOB_UPLOAD_INVALID' },
      // huge numbers
      { range: '99999999999999999999-99999999999999999999', data: blob.bytes.subarray(40, 50), status: 416, code: 'BLOB_UPLOAD_INVALID' },
      // Content-Length disagrees with Content-Range
      { range: '40-59', data: blob.bytes.subarray(40, 50), status: 400, code: 'SIZE_INVALID' },
    ]
    for (const a of attempts) {
      const res = await chunk(loc, a.data, a.range)
      expectOciError(res, a.status, a.code)
      if (a.status === 416 && a.code === 'BLOB_UPLOAD_INVALID' && /^\d+-\d+$/.test(a.range)) {
        // the 416 for a chunk out of order says where the session is
        expect(res.headers.range).toBe('0-39')
      }
      expect(await sessionRange(loc)).toBe('0-39')
    }

    const rest = await chunk(loc, blob.bytes.subarray(40), '40-99')
    expect(rest.status).toBe(202)
    expect(rest.headers.range).toBe('0-99')
    const put = await http('PUT', resolveLocation(base, loc, { digest: blob.digest }))
    expect(put.status).toBe(201)
    expect((await http('GET', v2url(base, `${repo}/blobs/${blob.digest}`))).body.equals(blob.bytes)).toBe(true)
  })

  it('a chunk that is cut off mid-body leaves the session at its last acknowledged offset', async () => {
    const blob = randomBlob(64 * 1024)
    const loc = await openSession(repo)
    expect((await chunk(loc, blob.bytes.subarray(0, 1000), '0-999')).status).toBe(202)
    // a body that sends some bytes then fails: the client drops the connection mid-request
    const failing = new Readable({
      read() {
        this.push(blob.bytes.subarray(1000, 5000))
        this.destroy(new Error('client gave up'))
      },
    })
    await expect(
      http('PATCH', resolveLocation(base, loc), {
        headers: { 'content-type': MT.octetStream, 'content-range': `1000-${blob.size - 1}`, 'content-length': String(blob.size - 1000) },
        body: failing,
      }),
    ).rejects.toThrow()
    expect(await sessionRange(loc)).toBe('0-999')
    // the server may still be unwinding the cut-off request; a busy session answers 416 with its Range, so retry
    let res: HttpResult | undefined
    for (let i = 0; i < 100; i++) {
      res = await chunk(loc, blob.bytes.subarray(1000), `1000-${blob.size - 1}`)
      if (res.status !== 416) break
      expect(res.headers.range).toBe('0-999')
      await new Promise((r) => setTimeout(r, 20))
    }
    expect(res!.status).toBe(202)
    expect(res!.headers.range).toBe(`0-${blob.size - 1}`)
    expect((await http('PUT', resolveLocation(base, loc, { digest: blob.digest }))).status).toBe(201)
    expect((await http('GET', v2url(base, `${repo}/blobs/${blob.digest}`))).body.equals(blob.bytes)).toBe(true)
  })
})

describe('unknown upload ids → 404 BLOB_UPLOAD_UNKNOWN', () => {
  const repo = repoName('err-upload')
  const ids = [UNKNOWN_UUID, 'not-a-uuid', '%2e%2e%2f%2e%2e%2fetc%2fpasswd', 'x'.repeat(4000), '0']

  for (const id of ids) {
    it(`id "${id.length > 30 ? `${id.slice(0, 10)}…` : id}" on GET, PATCH, PUT and DELETE`, async () => {
      const url = `${base}/v2/${repo}/blobs/uploads/${id}`
      expectOciError(await http('GET', url), 404, 'BLOB_UPLOAD_UNKNOWN')
      await expectHeadMirrors(`/v2/${repo}/blobs/uploads/${id}`, 404)
      expectOciError(await http('PATCH', url, { body: 'abc' }), 404, 'BLOB_UPLOAD_UNKNOWN')
      expectOciError(await http('PATCH', url, { body: 'abc', headers: { 'content-range': '0-2' } }), 404, 'BLOB_UPLOAD_UNKNOWN')
      expectOciError(await http('PUT', `${url}?digest=${digestOf('abc')}`, { body: 'abc' }), 404, 'BLOB_UPLOAD_UNKNOWN')
      expectOciError(await http('DELETE', url), 404, 'BLOB_UPLOAD_UNKNOWN')
    })
  }

  it('a completed session is unknown afterwards', async () => {
    const blob = randomBlob(10)
    const loc = await openSession(repo)
    expect((await http('PUT', resolveLocation(base, loc, { digest: blob.digest }), { body: blob.bytes })).status).toBe(201)
    expectOciError(await http('GET', resolveLocation(base, loc)), 404, 'BLOB_UPLOAD_UNKNOWN')
    expectOciError(await http('PUT', resolveLocation(base, loc, { digest: blob.digest }), { body: blob.bytes }), 404, 'BLOB_UPLOAD_UNKNOWN')
  })
})

describe('an upload id from another repository → 404 BLOB_UPLOAD_UNKNOWN', () => {
  it('GET, PATCH, PUT and DELETE through repository B fail, and the session in A is untouched', async () => {
    const a = repoName('err-owner-a')
    const b = repoName('err-owner-b')
    const blob = randomBlob(200)
    const locA = await openSession(a)
    expect((await chunk(locA, blob.bytes.subarray(0, 100), '0-99')).status).toBe(202)
    const id = new URL(locA, `${base}/`).pathname.split('/').pop()!
    const inB = `${base}/v2/${b}/blobs/uploads/${id}`

    expectOciError(await http('GET', inB), 404, 'BLOB_UPLOAD_UNKNOWN')
    expectOciError(await chunk(inB, blob.bytes.subarray(100), '100-199'), 404, 'BLOB_UPLOAD_UNKNOWN')
    expectOciError(await http('PUT', `${inB}?digest=${blob.digest}`, { body: blob.bytes.subarray(100) }), 404, 'BLOB_UPLOAD_UNKNOWN')
    expectOciError(await http('DELETE', inB), 404, 'BLOB_UPLOAD_UNKNOWN')

    expect(await sessionRange(locA)).toBe('0-99')
    expect((await chunk(locA, blob.bytes.subarray(100), '100-199')).status).toBe(202)
    expect((await http('PUT', resolveLocation(base, locA, { digest: blob.digest }))).status).toBe(201)
    expect((await http('GET', v2url(base, `${a}/blobs/${blob.digest}`))).status).toBe(200)
    expectOciError(await http('GET', v2url(base, `${b}/blobs/${blob.digest}`)), 404, 'BLOB_UNKNOWN')
  })
})

describe('PUT to complete an upload', () => {
  const repo = repoName('err-put')

  it('without ?digest= → 400 DIGEST_INVALID, and the session can still be completed', async () => {
    const blob = randomBlob(50)
    const loc = await openSession(repo)
    expect((await chunk(loc, blob.bytes, '0-49')).status).toBe(202)
    expectOciError(await http('PUT', resolveLocation(base, loc)), 400, 'DIGEST_INVALID')
    expectOciError(await http('PUT', resolveLocation(base, loc, { digest: '' })), 400, 'DIGEST_INVALID')
    expect(await sessionRange(loc)).toBe('0-49')
    expect((await http('PUT', resolveLocation(base, loc, { digest: blob.digest }))).status).toBe(201)
  })

  it('without ?digest= but with a body → 400 DIGEST_INVALID, the body is not appended', async () => {
    const blob = randomBlob(50)
    const loc = await openSession(repo)
    expectOciError(await http('PUT', resolveLocation(base, loc), { body: blob.bytes }), 400, 'DIGEST_INVALID')
    expect(await sessionRange(loc)).toBe('0-0')
    expect((await http('PUT', resolveLocation(base, loc, { digest: blob.digest }), { body: blob.bytes })).status).toBe(201)
  })

  it('with a wrong digest → 400 DIGEST_INVALID and the blob is NOT served afterwards', async () => {
    const blob = randomBlob(500)
    const claimed = digestOf('something else entirely')
    const loc = await openSession(repo)
    const res = await http('PUT', resolveLocation(base, loc, { digest: claimed }), { body: blob.bytes })
    expectOciError(res, 400, 'DIGEST_INVALID')
    for (const d of [claimed, blob.digest]) {
      expectOciError(await http('GET', v2url(base, `${repo}/blobs/${d}`)), 404, 'BLOB_UNKNOWN')
      expect((await http('HEAD', v2url(base, `${repo}/blobs/${d}`))).status).toBe(404)
    }
    // a manifest cannot reference it either
    const config = imageConfig()
    await pushBlob(base, repo, config)
    const m = imageManifest({ config: descriptor(config, MT.ociConfig), layers: [{ mediaType: MT.ociLayerGzip, digest: claimed, size: 500 }] })
    expectOciError(await putManifest(base, repo, 'uses-bad', m), 400, 'MANIFEST_BLOB_UNKNOWN')
    // and a correct push in a new session works
    await pushBlob(base, repo, blob)
    expect((await http('GET', v2url(base, `${repo}/blobs/${blob.digest}`))).body.equals(blob.bytes)).toBe(true)
  })

  it('with the right algorithm but a digest of other bytes (sha512) → 400 DIGEST_INVALID', async () => {
    const blob = randomBlob(100, 'sha512')
    const loc = await openSession(repo)
    const res = await http('PUT', resolveLocation(base, loc, { digest: digestOf('nope', 'sha512') }), { body: blob.bytes })
    expectOciError(res, 400, 'DIGEST_INVALID')
    expectOciError(await http('GET', v2url(base, `${repo}/blobs/${blob.digest}`)), 404, 'BLOB_UNKNOWN')
  })
})

describe('manifests referencing content that is not in the repository → 400 MANIFEST_BLOB_UNKNOWN', () => {
  const repo = repoName('err-refs')

  it('a missing config, a missing layer, and a missing child manifest; none is stored', async () => {
    const config = imageConfig()
    const layer = randomBlob(64)
    await pushBlob(base, repo, layer)
    const missingConfig = imageManifest({ config: descriptor(config, MT.ociConfig), layers: [descriptor(layer, MT.ociLayerGzip)] })
    expectOciError(await putManifest(base, repo, 'no-config', missingConfig), 400, 'MANIFEST_BLOB_UNKNOWN')

    await pushBlob(base, repo, config)
    const missingLayer = imageManifest({
      config: descriptor(config, MT.ociConfig),
      layers: [descriptor(layer, MT.ociLayerGzip), descriptor(randomBlob(64), MT.ociLayerGzip)],
    })
    expectOciError(await putManifest(base, repo, 'no-layer', missingLayer), 400, 'MANIFEST_BLOB_UNKNOWN')

    const child = imageManifest({ config: descriptor(config, MT.ociConfig), layers: [descriptor(layer, MT.ociLayerGzip)] })
    const idx = imageIndex({ manifests: [manifestDescriptor(child)] })
    expectOciError(await putManifest(base, repo, 'no-child', idx), 400, 'MANIFEST_BLOB_UNKNOWN')

    for (const t of ['no-config', 'no-layer', 'no-child']) {
      expect((await http('HEAD', v2url(base, `${repo}/manifests/${t}`))).status).toBe(404)
    }
    for (const m of [missingConfig, missingLayer, idx]) {
      expect((await http('HEAD', v2url(base, `${repo}/manifests/${m.digest}`))).status).toBe(404)
    }
    // with the child pushed, the same index is accepted
    await pushManifest(base, repo, child.digest, child)
    expect((await putManifest(base, repo, 'with-child', idx)).status).toBe(201)
  })

  it('a missing subject is NOT an error', async () => {
    const img = await pushImage(base, repo)
    const phantom = imageManifest({ config: descriptor(imageConfig(), MT.ociConfig) })
    const ref = imageManifest({
      config: descriptor(img.config, MT.ociConfig),
      subject: manifestDescriptor(phantom),
      annotations: { ref: 'to-missing' },
    })
    const res = await putManifest(base, repo, ref.digest, ref)
    expect(res.status).toBe(201)
    expect(res.headers['oci-subject']).toBe(phantom.digest)
  })
})

describe('repositories are isolated', () => {
  const a = repoName('err-iso-a')
  const b = repoName('err-iso-b')
  const blob = randomBlob(300)

  beforeAll(async () => {
    await pushBlob(base, a, blob)
    await pushImage(base, b) // B exists, it just does not hold the blob
  })

  it('a blob pushed to A is not readable through B (GET, HEAD, DELETE → 404 BLOB_UNKNOWN)', async () => {
    expectOciError(await http('GET', v2url(base, `${b}/blobs/${blob.digest}`)), 404, 'BLOB_UNKNOWN')
    expect((await http('HEAD', v2url(base, `${b}/blobs/${blob.digest}`))).status).toBe(404)
    expectOciError(await http('GET', v2url(base, `${b}/blobs/${blob.digest}`), { headers: { range: 'bytes=0-9' } }), 404, 'BLOB_UNKNOWN')
    expectOciError(await http('DELETE', v2url(base, `${b}/blobs/${blob.digest}`)), 404, 'BLOB_UNKNOWN')
    // and A still has it
    expect((await http('GET', v2url(base, `${a}/blobs/${blob.digest}`))).body.equals(blob.bytes)).toBe(true)
  })

  it('a manifest in B cannot reference a blob that only A holds', async () => {
    const config = imageConfig()
    await pushBlob(base, b, config)
    const m = imageManifest({ config: descriptor(config, MT.ociConfig), layers: [descriptor(blob, MT.ociLayerGzip)] })
    expectOciError(await putManifest(base, b, 'borrow', m), 400, 'MANIFEST_BLOB_UNKNOWN')
  })

  it('a manifest and tag pushed to A are not visible through B', async () => {
    const img = await pushImage(base, a, { ref: 'only-in-a' })
    expectOciError(await http('GET', v2url(base, `${b}/manifests/only-in-a`)), 404, 'MANIFEST_UNKNOWN')
    expectOciError(await http('GET', v2url(base, `${b}/manifests/${img.manifest.digest}`)), 404, 'MANIFEST_UNKNOWN')
    expect(json<{ tags: string[] }>(await http('GET', v2url(base, `${b}/tags/list`))).tags).not.toContain('only-in-a')
  })

  it('after a mount from A, B serves the blob (the only way to share it)', async () => {
    const res = await http('POST', v2url(base, `${b}/blobs/uploads/`, { mount: blob.digest, from: a }))
    expect(res.status).toBe(201)
    expect((await http('GET', v2url(base, `${b}/blobs/${blob.digest}`))).body.equals(blob.bytes)).toBe(true)
  })
})

describe('odd requests never produce a 5xx', () => {
  const repo = repoName('err-odd')
  let blobDigest = ''

  beforeAll(async () => {
    const img = await pushImage(base, repo, { ref: 'v1' })
    blobDigest = img.layers[0]!.digest
  })

  const requests: { name: string; method: Method; path: () => string; headers?: Record<string, string>; body?: string }[] = [
    { name: 'percent garbage in a reference', method: 'GET', path: () => `${repo}/manifests/%ZZ` },
    { name: 'percent garbage in a digest', method: 'GET', path: () => `${repo}/blobs/%ZZ` },
    { name: 'NUL in a reference', method: 'GET', path: () => `${repo}/manifests/a%00b` },
    { name: 'empty reference', method: 'GET', path: () => `${repo}/manifests/` },
    { name: 'GET on the uploads collection', method: 'GET', path: () => `${repo}/blobs/uploads/` },
    { name: 'PATCH on the uploads collection', method: 'PATCH', path: () => `${repo}/blobs/uploads/`, body: 'x' },
    { name: 'POST to a manifest', method: 'POST', path: () => `${repo}/manifests/v1`, body: '{}' },
    { name: 'PUT to a blob URL', method: 'PUT', path: () => `${repo}/blobs/${blobDigest}`, body: 'x' },
    { name: 'PATCH to a manifest', method: 'PATCH', path: () => `${repo}/manifests/v1`, body: '{}' },
    { name: 'unknown endpoint', method: 'GET', path: () => `${repo}/nothing/here` },
    { name: 'n=-1', method: 'GET', path: () => `${repo}/tags/list?n=-1` },
    { name: 'n=abc', method: 'GET', path: () => `${repo}/tags/list?n=abc` },
    { name: 'n=1e3', method: 'GET', path: () => `${repo}/tags/list?n=1e3` },
    { name: 'n huge', method: 'GET', path: () => `${repo}/tags/list?n=99999999999999999999999` },
    { name: 'last with odd bytes', method: 'GET', path: () => `${repo}/tags/list?last=%FF%FE` },
    { name: 'catalog n=x', method: 'GET', path: () => `_catalog?n=x` },
    { name: 'empty ?digest= on POST', method: 'POST', path: () => `${repo}/blobs/uploads/?digest=`, body: 'x' },
    { name: 'empty mount and from', method: 'POST', path: () => `${repo}/blobs/uploads/?mount=&from=` },
    { name: 'mount from an invalid name', method: 'POST', path: () => `${repo}/blobs/uploads/?mount=${blobDigest}&from=NOT..VALID` },
    { name: 'repeated digest parameters', method: 'POST', path: () => `${repo}/blobs/uploads/?digest=${digestOf('x')}&digest=sha256:bad`, body: 'x' },
    { name: 'garbage Content-Type on a manifest', method: 'PUT', path: () => `${repo}/manifests/odd`, headers: { 'content-type': ';;;' }, body: '{}' },
    { name: 'referrers with an empty artifactType', method: 'GET', path: () => `${repo}/referrers/${digestOf('x')}?artifactType=` },
    { name: 'a very long name', method: 'GET', path: () => `${'a/'.repeat(2000)}a/tags/list` },
    { name: 'Range garbage', method: 'GET', path: () => `${repo}/blobs/${blobDigest}`, headers: { range: 'bytes=abc' } },
    { name: 'multiple ranges', method: 'GET', path: () => `${repo}/blobs/${blobDigest}`, headers: { range: 'bytes=0-1,4-5' } },
    { name: 'another unit', method: 'GET', path: () => `${repo}/blobs/${blobDigest}`, headers: { range: 'items=0-1' } },
    { name: 'empty suffix range', method: 'GET', path: () => `${repo}/blobs/${blobDigest}`, headers: { range: 'bytes=-0' } },
    { name: 'huge range start', method: 'GET', path: () => `${repo}/blobs/${blobDigest}`, headers: { range: 'bytes=99999999999999999999-' } },
    { name: 'If-None-Match garbage', method: 'GET', path: () => `${repo}/manifests/v1`, headers: { 'if-none-match': 'W/"garbage", *, "' } },
  ]

  for (const r of requests) {
    it(`${r.method} ${r.name}`, async () => {
      const res = await http(r.method, `${base}/v2/${r.path()}`, { headers: r.headers, body: r.body })
      expect(res.status, res.body.toString('utf8').slice(0, 200)).toBeLessThan(500)
      expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0')
      if (res.status >= 400 && r.method !== 'HEAD') expectOciError(res, res.status)
    })
  }

  it('range requests that cannot be served get 416, ignored ones get the whole blob', async () => {
    const url = v2url(base, `${repo}/blobs/${blobDigest}`)
    expect((await http('GET', url, { headers: { range: 'bytes=-0' } })).status).toBe(416)
    expect((await http('GET', url, { headers: { range: 'bytes=99999999999999999999-' } })).status).toBe(416)
    for (const range of ['bytes=abc', 'bytes=0-1,4-5', 'items=0-1']) {
      const res = await http('GET', url, { headers: { range } })
      expect(res.status).toBe(200)
      expect(res.headers['content-length']).toBe('256')
    }
  })
})

describe('the origin log', () => {
  it('shows no request of this file ending in a 5xx and no unhandled error', () => {
    const requests = logLines.filter((l) => l.msg === 'request')
    expect(requests.length).toBeGreaterThan(100)
    const failed = requests.filter((l) => typeof l.status === 'number' && l.status >= 500)
    expect(failed).toEqual([])
    expect(logLines.filter((l) => l.msg === 'unhandled error' || (typeof l.level === 'number' && l.level >= 50))).toEqual([])
  })
})
