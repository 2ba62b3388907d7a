/**
 * The cache node with real clients: docker login and pull through a cache, dockerd's registry-mirrors, a
 * containerd hosts.toml mirror, a cache in front of Debian's docker-registry (a foreign upstream), and two caches
 * chained. Every pull must end with the digest that was pushed.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { request } from 'undici'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { apiClient, createUser } from '../helpers/api.ts'
import type { Credentials } from '../helpers/auth.ts'
import { clientSandbox, describeWithClients, pushedDigest, type ClientSandbox } from '../helpers/clients.ts'
import { startDockerd } from '../helpers/dockerd.ts'
import { referenceRegistryAvailable, startReferenceRegistry, type ReferenceRegistry } from '../helpers/reference-registry.ts'
import { closeHttp } from '../helpers/registry-http.ts'
import { startCache, type RunningCache } from '../helpers/start-cache.ts'
import { startOrigin, TEST_ADMIN, type RunningOrigin } from '../helpers/start-origin.ts'

const uid = () => randomBytes(4).toString('hex')

function buildContext(dir: string, bytes: number): string {
  const ctx = mkdtempSync(join(dir, 'ctx-'))
  writeFileSync(join(ctx, 'a.txt'), `cache e2e ${uid()}\n`)
  writeFileSync(join(ctx, 'b.bin'), randomBytes(bytes))
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a.txt\nCOPY b.bin /b.bin\nCMD ["/a.txt"]\n')
  return ctx
}

async function login(sb: ClientSandbox, host: string, creds: Credentials) {
  const out = await sb.docker(['login', '-u', creds.username, '--password-stdin', host], { input: creds.password })
  expect(out.output).toContain('Login Succeeded')
}

/** The value of one Prometheus counter, summed over its label sets. */
async function metric(cache: RunningCache, name: string): Promise<number> {
  const res = await request(`${cache.url}/metrics`)
  const text = await res.body.text()
  let sum = 0
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.split(' ').at(-1))
  }
  return sum
}

describeWithClients('real clients through the cache node', (clients) => {
  let origin: RunningOrigin
  let dev: Credentials
  let pushed: string
  let ref: ReferenceRegistry | undefined
  let foreignDigest = ''
  const repo = 'dev/app'
  const caches: RunningCache[] = []
  const cache = async (opts: Parameters<typeof startCache>[0]) => {
    const c = await startCache(opts)
    caches.push(c)
    return c
  }

  beforeAll(async () => {
    origin = await startOrigin()
    dev = await createUser(apiClient(origin.url), TEST_ADMIN, 'dev')
    const sb = clientSandbox(clients, 'cache-setup')
    try {
      await login(sb, origin.host, dev)
      const tag = `${origin.host}/${repo}:v1`
      await sb.docker(['build', '-t', tag, buildContext(sb.dir, 2 << 20)])
      pushed = pushedDigest((await sb.docker(['push', tag])).output)
      await sb.docker(['rmi', tag])
      if (!referenceRegistryAvailable() && process.env.WHARF_REQUIRE_CLIENTS === '1') {
        throw new Error('WHARF_REQUIRE_CLIENTS=1 but Debian docker-registry is missing: bash scripts/clients.sh install')
      }
      if (referenceRegistryAvailable()) {
        ref = await startReferenceRegistry()
        const foreign = `${ref.host}/library/hello:1`
        await sb.docker(['build', '-t', foreign, buildContext(sb.dir, 256 << 10)])
        foreignDigest = pushedDigest((await sb.docker(['push', foreign])).output)
        await sb.docker(['rmi', foreign])
      }
    } finally {
      sb.cleanup()
    }
  })

  afterAll(async () => {
    for (const c of caches.reverse()) await c.close()
    await ref?.close()
    await closeHttp(origin.url)
    await origin.close()
  })

  it('docker login <cache> with origin credentials, then docker pull through it', async () => {
    const c = await cache({ originUrl: origin.url })
    const sb = clientSandbox(clients, 'cache-login')
    const anon = clientSandbox(clients, 'cache-anon')
    try {
      // without a login the private repository stays private, cached or not
      await expect(anon.docker(['pull', `${c.host}/${repo}:v1`])).rejects.toThrow(/denied|unauthorized|authentication required/i)
      await login(sb, c.host, dev)
      const out = await sb.docker(['pull', `${c.host}/${repo}:v1`])
      expect(out.output).toContain(`Digest: ${pushed}`)
      expect(await metric(c, 'wharf_cache_bytes_from_upstream_total')).toBeGreaterThan(2 << 20)
      // a second client pulls from disk
      await sb.docker(['rmi', `${c.host}/${repo}:v1`])
      const before = await metric(c, 'wharf_cache_bytes_from_upstream_total')
      expect((await sb.docker(['pull', `${c.host}/${repo}:v1`])).output).toContain(`Digest: ${pushed}`)
      expect(await metric(c, 'wharf_cache_bytes_from_upstream_total')).toBe(before)
      await expect(anon.docker(['pull', `${c.host}/${repo}:v1`])).rejects.toThrow(/denied|unauthorized|authentication required/i)
      await sb.docker(['rmi', `${c.host}/${repo}:v1`])
    } finally {
      sb.cleanup()
      anon.cleanup()
    }
  })

  it('two chained caches: the child fills from the parent, the parent from the origin', async () => {
    const parent = await cache({ originUrl: origin.url })
    const child = await cache({ originUrl: origin.url, upstreamUrl: parent.url })
    const sb = clientSandbox(clients, 'cache-chain')
    try {
      await login(sb, child.host, dev)
      expect((await sb.docker(['pull', `${child.host}/${repo}:v1`])).output).toContain(`Digest: ${pushed}`)
      const fromParent = await metric(child, 'wharf_cache_bytes_from_upstream_total')
      const fromOrigin = await metric(parent, 'wharf_cache_bytes_from_upstream_total')
      expect(fromParent).toBeGreaterThan(2 << 20)
      expect(fromOrigin).toBe(fromParent)
      await sb.docker(['rmi', `${child.host}/${repo}:v1`])
    } finally {
      sb.cleanup()
    }
  })

  it('in front of Debian docker-registry: a foreign upstream by name prefix', async (ctx) => {
    if (!ref) return ctx.skip()
    const c = await cache({ originUrl: origin.url, env: { CACHE_UPSTREAMS: `hub/=${ref.url}` } })
    const sb = clientSandbox(clients, 'cache-foreign')
    try {
      const out = await sb.docker(['pull', `${c.host}/hub/library/hello:1`])
      expect(out.output).toContain(`Digest: ${foreignDigest}`)
      await sb.docker(['rmi', `${c.host}/hub/library/hello:1`])
    } finally {
      sb.cleanup()
    }
  })

  it('dockerd with registry-mirrors pointing at the cache pulls a one-part name', async (ctx) => {
    if (!ref) return ctx.skip()
    const c = await cache({
      originUrl: origin.url,
      env: { CACHE_UPSTREAMS: `docker.io=${ref.url}`, CACHE_DOCKER_MIRROR: 'docker.io' },
    })
    const dockerd = await startDockerd({ mirrors: [c.url] })
    try {
      const out = await dockerd.docker(['pull', 'hello:1'])
      expect(out.output).toContain(`Digest: ${foreignDigest}`)
      expect(await metric(c, 'wharf_cache_bytes_from_upstream_total')).toBeGreaterThan(256 << 10)
    } finally {
      await dockerd.stop()
    }
  })

  it('containerd with a hosts.toml mirror (requests carry ?ns=docker.io)', async (ctx) => {
    if (!ref) return ctx.skip()
    const c = await cache({ originUrl: origin.url, env: { CACHE_UPSTREAMS: `docker.io=${ref.url}` } })
    const sb = clientSandbox(clients, 'cache-ctr')
    const hostsDir = mkdtempSync(join(sb.dir, 'certs.d-'))
    mkdirSync(join(hostsDir, 'docker.io'))
    writeFileSync(
      join(hostsDir, 'docker.io', 'hosts.toml'),
      `server = "https://registry-1.docker.io"\n\n[host."${c.url}"]\n  capabilities = ["pull", "resolve"]\n`,
    )
    try {
      const out = await sb.ctr(['image', 'pull', '--hosts-dir', hostsDir, '--snapshotter', 'native', 'docker.io/library/hello:1'])
      expect(out.output).toContain(foreignDigest.slice('sha256:'.length))
      expect(await metric(c, 'wharf_cache_bytes_from_upstream_total')).toBeGreaterThan(256 << 10)
      await sb.ctr(['image', 'rm', 'docker.io/library/hello:1']).catch(() => undefined)
    } finally {
      rmSync(hostsDir, { recursive: true, force: true })
      sb.cleanup()
    }
  })

  it('podman with a registries.conf mirror', async (ctx) => {
    if (!ref) return ctx.skip()
    // podman, like docker, asks a mirror for library/<name> without saying which registry it mirrors
    const c = await cache({
      originUrl: origin.url,
      env: { CACHE_UPSTREAMS: `docker.io=${ref.url}`, CACHE_DOCKER_MIRROR: 'docker.io' },
    })
    const sb = clientSandbox(clients, 'cache-podman')
    const conf = join(sb.dir, 'registries.conf')
    writeFileSync(
      conf,
      `[[registry]]\nprefix = "docker.io"\nlocation = "registry-1.docker.io"\n\n[[registry.mirror]]\nlocation = "${c.host}"\ninsecure = true\n`,
    )
    try {
      await sb.podman(['pull', 'docker.io/library/hello:1'], { env: { CONTAINERS_REGISTRIES_CONF: conf } })
      const digest = (await sb.podman(['image', 'inspect', '--format', '{{.Digest}}', 'docker.io/library/hello:1'])).stdout.trim()
      expect(digest).toBe(foreignDigest)
      expect(await metric(c, 'wharf_cache_bytes_from_upstream_total')).toBeGreaterThan(256 << 10)
      await sb.podman(['rmi', '-f', 'docker.io/library/hello:1']).catch(() => undefined)
    } finally {
      sb.cleanup()
    }
  })
})
