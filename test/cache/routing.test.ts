/**
 * Which upstream a request goes to, as clients configured to use the cache ask: containerd hosts.toml mirrors
 * (`?ns=<registry>`), docker's registry-mirrors (`library/<name>` for one-part Docker Hub names, no ns), podman
 * mirror locations with a path (a name prefix), and the origin by default. Also: the anonymous token dance with a
 * foreign registry, writes refused with a pointer to the origin, a cache that has never reached its origin, and
 * /metrics.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { blob, call, errorCode, manifest, manifestFor, sha256 } from '../helpers/cache-http.ts'
import { startFakeRegistry, type FakeRegistry } from '../helpers/fake-registry.ts'
import { imageConfig } from '../helpers/oci-fixtures.ts'
import { startCache, type RunningCache } from '../helpers/start-cache.ts'

const NO_ORIGIN = 'http://127.0.0.1:1'
let hub: FakeRegistry
let ghcr: FakeRegistry
let cache: RunningCache

/** Requests the registry answered with content: those that carried a token (the others were challenged). */
const authorized = (reg: FakeRegistry, method: string, path: RegExp) =>
  reg.requests.filter((r) => r.method === method && path.test(r.path) && r.authorization).length

beforeAll(async () => {
  hub = await startFakeRegistry({ tokenAuth: true })
  ghcr = await startFakeRegistry()
  cache = await startCache({
    originUrl: NO_ORIGIN,
    env: {
      CACHE_UPSTREAMS: `docker.io=${hub.url}, ghcr.io=${ghcr.url} hub/=${hub.url}`,
      CACHE_DOCKER_MIRROR: 'docker.io',
      CACHE_METRICS_TOKEN: 'scrape-me',
    },
  })
})

afterAll(async () => {
  await cache?.close()
  await hub?.close()
  await ghcr?.close()
})

describe('routing', () => {
  it('sends ?ns=<registry> to that registry (containerd hosts.toml)', async () => {
    const a = ghcr.addBlob('org/tool', randomBytes(1000))
    const res = await blob(cache.url, 'org/tool', a.digest, { ns: 'ghcr.io' })
    expect(res.status).toBe(200)
    expect(sha256(res.body)).toBe(a.digest)
    expect(ghcr.count('GET', new RegExp(`^/v2/org/tool/blobs/${a.digest}$`))).toBe(1)
  })

  it('sends library/<name> without ns to the docker mirror (docker registry-mirrors), keeping the name', async () => {
    const config = hub.addBlob('library/busybox', imageConfig())
    const m = manifestFor(config, [])
    hub.putManifest('library/busybox', m, 'latest')
    const res = await manifest(cache.url, 'library/busybox', 'latest')
    expect(res.status).toBe(200)
    expect(res.headers['docker-content-digest']).toBe(m.digest)
    expect(authorized(hub, 'GET', /^\/v2\/library\/busybox\/manifests\/latest$/)).toBe(1)
  })

  it('sends other names without ns to the default upstream, or to Docker Hub with CACHE_DOCKER_MIRROR_NAMES=all', async () => {
    const a = hub.addBlob('bitnami/redis', randomBytes(1000))
    const toOrigin = await blob(cache.url, 'bitnami/redis', a.digest)
    expect(toOrigin.status).toBe(502)
    expect(toOrigin.body.toString()).toContain('has not reached its origin')
    const dedicated = await startCache({
      originUrl: NO_ORIGIN,
      env: {
        CACHE_UPSTREAMS: `docker.io=${hub.url}`,
        CACHE_DOCKER_MIRROR: 'docker.io',
        CACHE_DOCKER_MIRROR_NAMES: 'all',
      },
    })
    try {
      const res = await blob(dedicated.url, 'bitnami/redis', a.digest)
      expect(res.status).toBe(200)
      expect(sha256(res.body)).toBe(a.digest)
    } finally {
      await dedicated.close()
    }
  })

  it('strips a name prefix for its registry (podman mirror location with a path)', async () => {
    const a = hub.addBlob('library/alpine', randomBytes(1000))
    const res = await blob(cache.url, 'hub/library/alpine', a.digest)
    expect(res.status).toBe(200)
    expect(sha256(res.body)).toBe(a.digest)
    expect(authorized(hub, 'GET', new RegExp(`^/v2/library/alpine/blobs/${a.digest}$`))).toBe(1)
    // the same blob under the same upstream name is one entry and one namespace: no second fetch with ns
    const again = await blob(cache.url, 'library/alpine', a.digest, { ns: 'docker.io' })
    expect(sha256(again.body)).toBe(a.digest)
    expect(hub.count('GET', new RegExp(`/blobs/${a.digest}$`))).toBe(1)
    expect(hub.count('HEAD', new RegExp(`/blobs/${a.digest}$`))).toBe(0)
  })

  it('gets an anonymous token from a foreign registry once and reuses it', async () => {
    const tokensBefore = hub.count('GET', /^\/token/)
    for (let i = 0; i < 3; i++) {
      const a = hub.addBlob('library/redis', randomBytes(500))
      expect((await blob(cache.url, 'library/redis', a.digest, { ns: 'docker.io' })).status).toBe(200)
    }
    expect(hub.count('GET', /^\/token/) - tokensBefore).toBe(1)
    const tokenReq = hub.requests.filter((r) => r.path.startsWith('/token')).at(-1)!
    expect(tokenReq.path).toContain('scope=repository%3Alibrary%2Fredis%3Apull')
    expect(tokenReq.authorization).toBeUndefined()
  })

  it('follows a blob redirect to another host (a CDN) without taking the token along', async () => {
    const cdn = await startFakeRegistry()
    try {
      const a = cdn.addBlob('library/nginx', randomBytes(3000))
      hub.addBlob('library/nginx', a)
      hub.intercept = (req, res) => {
        if (req.method !== 'GET' || !(req.url ?? '').includes(`/blobs/${a.digest}`) || !req.headers.authorization)
          return false
        res.writeHead(307, { Location: `${cdn.url}/v2/library/nginx/blobs/${a.digest}?signed=1` })
        res.end()
        return true
      }
      const res = await blob(cache.url, 'library/nginx', a.digest, { ns: 'docker.io' })
      expect(res.status).toBe(200)
      expect(sha256(res.body)).toBe(a.digest)
      const atCdn = cdn.requests.filter((r) => r.path.includes(a.digest))
      expect(atCdn).toHaveLength(1)
      expect(atCdn[0]!.path).toContain('signed=1')
      expect(atCdn[0]!.authorization).toBeUndefined()
    } finally {
      hub.intercept = undefined
      await cdn.close()
    }
  })

  it('answers an unknown ns with NAME_UNKNOWN, so the client moves on to its next host', async () => {
    const res = await blob(cache.url, 'x/y', `sha256:${'a'.repeat(64)}`, { ns: 'quay.io' })
    expect(res.status).toBe(404)
    expect(errorCode(res)).toBe('NAME_UNKNOWN')
  })

  it('rewrites a prefixed tags list to the name the client asked for', async () => {
    const config = hub.addBlob('library/node', imageConfig())
    hub.putManifest('library/node', manifestFor(config, []), '20')
    const res = await call(`${cache.url}/v2/hub/library/node/tags/list`)
    expect(res.status).toBe(200)
    expect(JSON.parse(res.body.toString())).toEqual({ name: 'hub/library/node', tags: ['20'] })
  })
})

describe('a cache that has not reached its origin', () => {
  it('still serves foreign content, and says why it cannot authorize origin content', async () => {
    const ping = await call(`${cache.url}/v2/`)
    expect(ping.status).toBe(502)
    expect(ping.body.toString()).toContain(`has not reached its origin`)
    const res = await manifest(cache.url, 'team/app', 'v1')
    expect(res.status).toBe(502)
    expect(errorCode(res)).toBe('UNKNOWN')
    const health = await call(`${cache.url}/health`)
    expect(JSON.parse(health.body.toString())).toEqual({ status: 'ok', origin: 'not reached yet' })
  })
})

describe('writes', () => {
  it('are refused as UNSUPPORTED (405) with a pointer to the origin', async () => {
    const attempts = [
      call(`${cache.url}/v2/team/app/blobs/uploads/`, { method: 'POST' }),
      call(`${cache.url}/v2/team/app/manifests/v1`, { method: 'PUT', body: '{}' }),
      call(`${cache.url}/v2/team/app/manifests/v1`, { method: 'DELETE' }),
      call(`${cache.url}/v2/team/app/blobs/uploads/abc`, { method: 'PATCH', body: 'x' }),
    ]
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(405)
      expect(errorCode(res)).toBe('UNSUPPORTED')
      expect(res.headers.allow).toBe('GET, HEAD')
      expect(res.body.toString()).toContain(`push to the origin at ${NO_ORIGIN}`)
    }
  })

  it('and other endpoints are UNSUPPORTED 404', async () => {
    const res = await call(`${cache.url}/v2/_catalog`)
    expect(res.status).toBe(404)
    expect(errorCode(res)).toBe('UNSUPPORTED')
  })
})

describe('/metrics', () => {
  it('needs CACHE_METRICS_TOKEN when set, and counts requests per outcome and repository', async () => {
    expect((await call(`${cache.url}/metrics`)).status).toBe(401)
    const res = await call(`${cache.url}/metrics`, { token: 'scrape-me' })
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
    const text = res.body.toString()
    expect(text).toContain('# TYPE wharf_cache_requests_total counter')
    expect(text).toMatch(/^wharf_cache_requests_total\{kind="blob",cache="miss"\} \d+$/m)
    expect(text).toMatch(/^wharf_cache_repository_requests_total\{repository="org\/tool",cache="miss"\} 1$/m)
    expect(text).toMatch(/^wharf_cache_disk_used_bytes \d+$/m)
    expect(text).toMatch(
      /^wharf_cache_upstream_errors_total\{upstream="http:\/\/127\.0\.0\.1:1",code="UPSTREAM_UNAVAILABLE"\} \d+$/m,
    )
  })
})
