/**
 * OCI conformance, Pull workflow: distribution-spec v1.1.1 conformance/01_pull_test.go, plus the pull side of the
 * rewritten suite on main (HEAD/GET checks of bodies and headers, the Range cases on a 2048-byte blob,
 * "sha256:baddigeststring"). Runs against a real origin on an ephemeral port.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeHttp, http, type HttpResult } from '../helpers/registry-http.ts'
import {
  CF_LAYER,
  MT,
  OCI_ERROR_CODES,
  cfManifest,
  content,
  digestOf,
  expectOciError,
  imageConfig,
  json,
  pushBlob,
  pushManifest,
  randomBlob,
  repoName,
  v2url,
  type Content,
  type ManifestDoc,
} from '../helpers/oci-fixtures.ts'
import { startOrigin } from '../helpers/start-origin.ts'

let origin: Awaited<ReturnType<typeof startOrigin>>
let base: string
const repo = repoName('pull')
const TAG = 'tagtest0'
/** CF's "dummyDigest": a blob that is never pushed. */
const MISSING_BLOB = digestOf('hello world')
const configs: Content[] = [imageConfig(), imageConfig()]
const manifests: ManifestDoc[] = configs.map((c) => cfManifest(c))

const get = (path: string, headers: Record<string, string | string[]> = {}) => http('GET', v2url(base, path), { headers })
const head = (path: string, headers: Record<string, string | string[]> = {}) => http('HEAD', v2url(base, path), { headers })

function expectApiVersion(res: HttpResult): void {
  expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0')
}

beforeAll(async () => {
  origin = await startOrigin()
  base = origin.url
  // CF setup: two configs and the layer, manifest[0] by tag, manifest[1] by digest
  for (const b of [...configs, CF_LAYER]) await pushBlob(base, repo, b)
  await pushManifest(base, repo, TAG, manifests[0]!)
  await pushManifest(base, repo, manifests[1]!.digest, manifests[1]!)
})

afterAll(async () => {
  if (!origin) return
  await closeHttp(origin.url)
  await origin.close()
})

describe('base', () => {
  it('GET /v2/ answers 200 with Docker-Distribution-API-Version: registry/2.0', async () => {
    const res = await http('GET', `${base}/v2/`)
    expect(res.status).toBe(200)
    expectApiVersion(res)
  })
})

describe('pull blobs', () => {
  it('HEAD of a nonexistent blob is 404 with an empty body', async () => {
    const res = await head(`${repo}/blobs/${MISSING_BLOB}`)
    expect(res.status).toBe(404)
    expect(res.body.byteLength).toBe(0)
    expectApiVersion(res)
  })

  it('HEAD of an existing blob is 200 with Docker-Content-Digest and Content-Length, and no body', async () => {
    const res = await head(`${repo}/blobs/${configs[0]!.digest}`)
    expect(res.status).toBe(200)
    expect(res.headers['docker-content-digest']).toBe(configs[0]!.digest)
    expect(res.headers['content-length']).toBe(String(configs[0]!.size))
    expect(res.body.byteLength).toBe(0)
    expectApiVersion(res)
  })

  it('GET of a nonexistent blob is 404 BLOB_UNKNOWN', async () => {
    expectOciError(await get(`${repo}/blobs/${MISSING_BLOB}`), 404, 'BLOB_UNKNOWN')
  })

  it('GET of an existing blob is 200 with the exact bytes, Content-Length and Docker-Content-Digest', async () => {
    for (const blob of [configs[0]!, configs[1]!, CF_LAYER]) {
      const res = await get(`${repo}/blobs/${blob.digest}`)
      expect(res.status).toBe(200)
      expect(res.body.equals(blob.bytes)).toBe(true)
      expect(res.headers['content-length']).toBe(String(blob.size))
      expect(res.headers['docker-content-digest']).toBe(blob.digest)
      expectApiVersion(res)
    }
  })
})

describe('pull manifests', () => {
  it('HEAD of a nonexistent manifest (CF ".INVALID_MANIFEST_NAME") is 404', async () => {
    const res = await head(`${repo}/manifests/.INVALID_MANIFEST_NAME`)
    expect(res.status).toBe(404)
    expect(res.body.byteLength).toBe(0)
  })

  it('HEAD of an unknown, valid tag is 404', async () => {
    const res = await head(`${repo}/manifests/missing-tag`)
    expect(res.status).toBe(404)
  })

  for (const i of [0, 1]) {
    it(`HEAD of manifest[${i}] by digest is 200 with Docker-Content-Digest, Content-Type and Content-Length`, async () => {
      const m = manifests[i]!
      const res = await head(`${repo}/manifests/${m.digest}`, { accept: MT.ociManifest })
      expect(res.status).toBe(200)
      expect(res.headers['docker-content-digest']).toBe(m.digest)
      expect(res.headers['content-type']).toBe(MT.ociManifest)
      expect(res.headers['content-length']).toBe(String(m.size))
      expect(res.body.byteLength).toBe(0)
      expectApiVersion(res)
    })
  }

  it('HEAD of the manifest by tag is 200 with the digest of manifest[0]', async () => {
    const res = await head(`${repo}/manifests/${TAG}`, { accept: MT.ociManifest })
    expect(res.status).toBe(200)
    expect(res.headers['docker-content-digest']).toBe(manifests[0]!.digest)
    expect(res.headers['content-length']).toBe(String(manifests[0]!.size))
  })

  it('GET of a nonexistent manifest is 404 MANIFEST_UNKNOWN', async () => {
    expectOciError(await get(`${repo}/manifests/.INVALID_MANIFEST_NAME`), 404, 'MANIFEST_UNKNOWN')
    expectOciError(await get(`${repo}/manifests/missing-tag`), 404, 'MANIFEST_UNKNOWN')
    expectOciError(await get(`${repo}/manifests/${digestOf('no such manifest')}`), 404, 'MANIFEST_UNKNOWN')
  })

  for (const i of [0, 1]) {
    it(`GET of manifest[${i}] by digest returns the exact pushed bytes`, async () => {
      const m = manifests[i]!
      const res = await get(`${repo}/manifests/${m.digest}`, { accept: MT.ociManifest })
      expect(res.status).toBe(200)
      expect(res.body.equals(m.bytes)).toBe(true)
      expect(res.headers['content-type']).toBe(MT.ociManifest)
      expect(res.headers['content-length']).toBe(String(m.size))
      expect(res.headers['docker-content-digest']).toBe(m.digest)
    })
  }

  it('GET of the manifest by tag returns manifest[0] byte for byte', async () => {
    const res = await get(`${repo}/manifests/${TAG}`, { accept: MT.ociManifest })
    expect(res.status).toBe(200)
    expect(res.body.equals(manifests[0]!.bytes)).toBe(true)
    expect(res.headers['docker-content-digest']).toBe(manifests[0]!.digest)
    expect(digestOf(res.body)).toBe(manifests[0]!.digest)
  })

  it('accepts Docker-style repeated Accept lines and containerd-style */* lists, serving the stored type', async () => {
    const docker = await get(`${repo}/manifests/${TAG}`, {
      accept: [MT.dockerManifest, MT.dockerManifestList, MT.ociManifest, MT.ociIndex, 'application/json'],
    })
    expect(docker.status).toBe(200)
    expect(docker.headers['content-type']).toBe(MT.ociManifest)
    expect(docker.body.equals(manifests[0]!.bytes)).toBe(true)
    const containerd = await get(`${repo}/manifests/${manifests[1]!.digest}`, { accept: `${MT.ociManifest}, */*` })
    expect(containerd.status).toBe(200)
    expect(containerd.body.equals(manifests[1]!.bytes)).toBe(true)
  })
})

describe('error codes', () => {
  // CF: 400 or 404; a 400 must carry a listed code
  for (const ref of ['sha256:totallywrong', 'sha256:baddigeststring']) {
    it(`GET manifests/${ref} is 400 DIGEST_INVALID (the spec allows 400 or 404)`, async () => {
      const res = await http('GET', v2url(base, `${repo}/manifests/${ref}`), {
        headers: { 'content-type': MT.ociManifest },
        body: 'blablabla',
      })
      const errors = expectOciError(res, 400, 'DIGEST_INVALID')
      expect(OCI_ERROR_CODES).toContain(errors[0]!.code)
    })
  }
})

describe('range requests (CF2, 2048-byte blob)', () => {
  const blob = randomBlob(2048)
  const SIZE = 2048

  beforeAll(async () => {
    await pushBlob(base, repo, blob)
  })

  const cases: { range: string; start: number; end: number }[] = [
    { range: 'bytes=500-1499', start: 500, end: 1499 },
    { range: 'bytes=500-', start: 500, end: SIZE - 1 },
    { range: 'bytes=-500', start: SIZE - 500, end: SIZE - 1 },
    { range: 'bytes=2000-5000', start: 2000, end: SIZE - 1 },
    { range: 'bytes=0-0', start: 0, end: 0 },
    { range: 'bytes=2047-', start: 2047, end: 2047 },
    { range: 'bytes=-5000', start: 0, end: SIZE - 1 },
  ]
  for (const c of cases) {
    it(`Range: ${c.range} → 206, Content-Range bytes ${c.start}-${c.end}/${SIZE}, exactly those bytes`, async () => {
      const res = await get(`${repo}/blobs/${blob.digest}`, { range: c.range })
      expect(res.status).toBe(206)
      expect(res.headers['content-range']).toBe(`bytes ${c.start}-${c.end}/${SIZE}`)
      expect(res.headers['content-length']).toBe(String(c.end - c.start + 1))
      expect(res.body.equals(blob.bytes.subarray(c.start, c.end + 1))).toBe(true)
    })
  }

  for (const range of ['bytes=500-0', 'bytes=5000-10000', 'bytes=2048-']) {
    it(`Range: ${range} → 416 with Content-Range: bytes */${SIZE}`, async () => {
      const res = await get(`${repo}/blobs/${blob.digest}`, { range })
      expect(res.status).toBe(416)
      expect(res.headers['content-range']).toBe(`bytes */${SIZE}`)
      expectApiVersion(res)
    })
  }

  it('a Docker-style resume (Range: bytes=<offset>-) gets 206 ending at size-1, as its http_reader requires', async () => {
    const res = await get(`${repo}/blobs/${blob.digest}`, { range: 'bytes=1024-' })
    expect(res.status).toBe(206)
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers['content-range'] ?? '')
    expect(m).not.toBeNull()
    expect(Number(m![1])).toBe(1024)
    expect(Number(m![2])).toBe(SIZE - 1)
    expect(Buffer.concat([blob.bytes.subarray(0, 1024), res.body]).equals(blob.bytes)).toBe(true)
  })

  it('a GET without Range is 200 with the whole blob', async () => {
    const res = await get(`${repo}/blobs/${blob.digest}`)
    expect(res.status).toBe(200)
    expect(res.body.equals(blob.bytes)).toBe(true)
  })
})

describe('zero-byte and empty-JSON blobs (CF2 "empty", "emptyJSON")', () => {
  const empty = content(Buffer.alloc(0))
  const emptyJson = content('{}')

  beforeAll(async () => {
    await pushBlob(base, repo, empty)
    await pushBlob(base, repo, emptyJson)
  })

  it('the empty descriptor blob `{}` has the digest image-spec gives', () => {
    expect(emptyJson.digest).toBe('sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a')
    expect(empty.digest).toBe('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
  })

  for (const [name, blob] of [
    ['zero-byte', empty],
    ['{}', emptyJson],
  ] as const) {
    it(`HEAD and GET of the ${name} blob report its exact size and digest`, async () => {
      const h = await head(`${repo}/blobs/${blob.digest}`)
      expect(h.status).toBe(200)
      expect(h.headers['content-length']).toBe(String(blob.size))
      expect(h.headers['docker-content-digest']).toBe(blob.digest)
      const g = await get(`${repo}/blobs/${blob.digest}`)
      expect(g.status).toBe(200)
      expect(g.headers['content-length']).toBe(String(blob.size))
      expect(g.body.equals(blob.bytes)).toBe(true)
    })
  }
})

describe('tags list after the pull setup', () => {
  it('lists exactly the one tag pushed', async () => {
    const res = await get(`${repo}/tags/list`)
    expect(res.status).toBe(200)
    expect(json(res)).toEqual({ name: repo, tags: [TAG] })
  })
})
