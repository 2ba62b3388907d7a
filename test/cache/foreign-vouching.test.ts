/**
 * Content that came from one upstream is served through another only when that other upstream itself served the
 * bytes: a foreign registry that answers HEAD 200 for every digest (or lists any digest in a manifest) must not
 * turn the cache's content-addressed store into a way around the origin's access decision.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiClient, createRepo, createUser } from '../helpers/api.ts'
import { tokenFor, type Credentials } from '../helpers/auth.ts'
import { blob, call, manifest, manifestFor, pushImage, sha256, type PushedImage } from '../helpers/cache-http.ts'
import { sendBlob, startFakeRegistry, type FakeRegistry } from '../helpers/fake-registry.ts'
import { content, imageConfig } from '../helpers/oci-fixtures.ts'
import { startCache, type RunningCache } from '../helpers/start-cache.ts'
import { startOrigin, TEST_ADMIN, type RunningOrigin } from '../helpers/start-origin.ts'

let origin: RunningOrigin
let cache: RunningCache & Awaited<ReturnType<typeof startCache>>
let alice: Credentials
let secret: PushedImage
/** A registry that says yes to every HEAD, and answers GETs with whatever `liarGet` decides. */
let liar: Server
let liarUrl = ''
const liarSeen: { method: string; path: string }[] = []
let liarGet: (path: string) => Buffer | undefined = () => undefined
let honest: FakeRegistry

beforeAll(async () => {
  origin = await startOrigin()
  const api = apiClient(origin.url)
  alice = await createUser(api, TEST_ADMIN, 'alice')
  await createRepo(api, alice, 'alice/private', 'private')
  secret = await pushImage(origin.url, 'alice/private', alice, [randomBytes(48 * 1024)], 'v1')

  liar = createServer((req, res) => {
    liarSeen.push({ method: req.method ?? 'GET', path: req.url ?? '/' })
    const url = req.url ?? '/'
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0')
    const d = /\/(?:blobs|manifests)\/(sha256:[a-f0-9]{64})$/.exec(url)?.[1]
    if (req.method === 'HEAD' && d) {
      // "yes, I have that", for any digest, with no body to prove it (and sometimes no size either)
      res.writeHead(200, {
        'Docker-Content-Digest': d,
        'Content-Type': url.includes('/manifests/') ? 'application/vnd.oci.image.manifest.v1+json' : 'application/octet-stream',
      })
      res.end()
      return
    }
    const body = liarGet(url)
    if (req.method === 'GET' && body) {
      sendBlob(req, res, body, d ?? content(body).digest)
      return
    }
    res.writeHead(404, { 'Content-Type': 'application/json' })
    res.end(JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'nope', detail: null }] }))
  })
  liar.listen(0, '127.0.0.1')
  await once(liar, 'listening')
  liarUrl = `http://127.0.0.1:${(liar.address() as AddressInfo).port}`
  honest = await startFakeRegistry()

  cache = await startCache({
    originUrl: origin.url,
    env: { CACHE_UPSTREAMS: `liar/=${liarUrl} liar.test=${liarUrl} honest/=${honest.url}` },
  })
  // alice pulls her private image through the cache: its manifest and blobs are now cached from the origin
  const token = await tokenFor(origin.url, ['repository:alice/private:pull'], alice)
  expect((await manifest(cache.url, 'alice/private', 'v1', { token })).status).toBe(200)
  for (const b of [secret.config, ...secret.layers])
    expect((await blob(cache.url, 'alice/private', b.digest, { token })).status).toBe(200)
})

afterAll(async () => {
  await cache?.close()
  liar?.closeAllConnections()
  liar?.close()
  await honest?.close()
  await origin?.close()
})

const leaks = (body: Buffer, secretBytes: Buffer) => body.byteLength > 0 && body.includes(secretBytes.subarray(0, 32))

describe('a foreign upstream that claims to hold any digest', () => {
  it('does not get a private blob cached from the origin served to an anonymous caller', async () => {
    const layer = secret.layers[0]!
    for (const [name, ns] of [
      ['liar/some/repo', undefined],
      ['some/repo', 'liar.test'],
    ] as const) {
      const res = await blob(cache.url, name, layer.digest, { ns })
      expect(res.status, name).not.toBe(200)
      expect(leaks(res.body, layer.bytes), name).toBe(false)
    }
    // the cache asked the liar for the bytes (a HEAD is no proof), and the liar had none to give
    expect(liarSeen.some((r) => r.method === 'GET' && r.path.includes(`/blobs/${layer.digest}`))).toBe(true)
    // a HEAD through the liar does not tell the cached size either
    const head = await blob(cache.url, 'liar/some/repo', layer.digest, { method: 'HEAD' })
    expect(head.headers['content-length']).not.toBe(String(layer.size))
  })

  it('does not get it served by listing it in a manifest of its own', async () => {
    const layer = secret.layers[0]!
    const config = content(imageConfig().bytes)
    const m = manifestFor(config, [layer])
    liarGet = (path) => (path.endsWith('/manifests/v1') ? m.bytes : undefined)
    try {
      expect((await manifest(cache.url, 'liar/bait/app', 'v1')).status).toBe(200)
      const res = await blob(cache.url, 'liar/bait/app', layer.digest)
      expect(res.status).not.toBe(200)
      expect(leaks(res.body, layer.bytes)).toBe(false)
    } finally {
      liarGet = () => undefined
    }
  })

  it('does not get a private manifest cached from the origin served by digest', async () => {
    const res = await manifest(cache.url, 'liar/some/repo', secret.manifest.digest)
    expect(res.status).not.toBe(200)
    expect(res.body.includes(secret.manifest.bytes.subarray(0, 40))).toBe(false)
  })

  it('sends garbage that the cache refuses, and the cached entry stays good for its owner', async () => {
    const layer = secret.layers[0]!
    liarGet = (path) => (path.includes(layer.digest) ? randomBytes(layer.size) : undefined)
    try {
      const res = await blob(cache.url, 'liar/some/repo', layer.digest).catch(() => undefined)
      if (res) {
        expect(res.status === 200 && sha256(res.body) === layer.digest).toBe(false)
        expect(leaks(res.body, layer.bytes)).toBe(false)
      }
    } finally {
      liarGet = () => undefined
    }
    const token = await tokenFor(origin.url, ['repository:alice/private:pull'], alice)
    const own = await blob(cache.url, 'alice/private', layer.digest, { token })
    expect(own.status).toBe(200)
    expect(sha256(own.body)).toBe(layer.digest)
  })

  it('is served the bytes once it actually serves them itself (proof), and then from the cache', async () => {
    const layer = secret.layers[0]!
    // a registry that really holds the same bytes (a public copy of a base layer) may have them
    honest.addBlob('mirror/base', layer.bytes)
    const first = await blob(cache.url, 'honest/mirror/base', layer.digest)
    expect(first.status).toBe(200)
    expect(sha256(first.body)).toBe(layer.digest)
    expect(honest.count('GET', new RegExp(`/blobs/${layer.digest}$`))).toBe(1)
    const again = await blob(cache.url, 'honest/mirror/base', layer.digest)
    expect(sha256(again.body)).toBe(layer.digest)
    expect(honest.count('GET', new RegExp(`/blobs/${layer.digest}$`))).toBe(1)
    expect(cache.deps.store.entry(layer.digest)).toBeDefined()
  })
})

describe('origin content', () => {
  it('is still served from the cache on the origin token and link checks, with no second fetch', async () => {
    const token = await tokenFor(origin.url, ['repository:alice/private:pull'], alice)
    const res = await call(`${cache.url}/v2/alice/private/blobs/${secret.config.digest}`, { token })
    expect(res.status).toBe(200)
    expect(sha256(res.body)).toBe(secret.config.digest)
    expect((await blob(cache.url, 'alice/private', secret.config.digest)).status).toBe(401)
  })
})
