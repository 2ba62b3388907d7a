/**
 * A whole Wharf network on loopback for tests: an origin (in this process), a control plane and cache nodes (real
 * processes, so a test can kill and restart them), each cache registered as a site by an admin and joined with a
 * one-use join token, exactly as an operator would do it with the API.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { vi } from 'vitest'
import { createHash } from 'node:crypto'
import { tokenFor, type Credentials } from './auth.ts'
import { spawnCache, type RunningCache } from './start-cache.ts'
import { spawnControlPlane } from './start-control-plane.ts'
import { startOrigin, TEST_ADMIN, type RunningOrigin } from './start-origin.ts'
import type { SpawnedProgram } from './spawn-program.ts'
import type { OriginDeps } from '../../origin/deps.ts'

export interface SiteSpec {
  name: string
  region?: string
  latitude?: number
  longitude?: number
  networks?: string[]
  parent?: string
  isDefault?: boolean
}

export interface NetworkSite {
  spec: SiteSpec
  /** The registered URL (the port stays the same across restarts). */
  url: string
  port: number
  dataDir: string
  cache: (RunningCache & SpawnedProgram) | undefined
  /** SIGKILLs the node (a crash: no last heartbeat, no last delivery). */
  kill(): Promise<void>
  /** Starts the node again on the same port and data folder (it keeps its site identity). */
  restart(): Promise<void>
}

export interface Network {
  origin: RunningOrigin & { deps: OriginDeps }
  controlPlane: SpawnedProgram
  controlPlaneUrl: string
  sites: Map<string, NetworkSite>
  site(name: string): NetworkSite
  /** Calls the control plane's API as the admin. */
  api(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown>; text: string }>
  /** Waits until the control plane reports the site in this state. */
  waitForHealth(name: string, state: 'up' | 'down'): Promise<void>
  /** Stops the control plane and starts it again on the same port and data folder. */
  restartControlPlane(): Promise<void>
  close(): Promise<void>
}

export interface NetworkOptions {
  sites: SiteSpec[]
  originEnv?: Record<string, string>
  controlPlaneEnv?: Record<string, string>
  cacheEnv?: Record<string, string>
  /** Where cache nodes reach the control plane, when not directly (a proxy in between). */
  cacheControlPlaneUrl?: (controlPlaneUrl: string) => Promise<string>
}

/** A port that was free a moment ago (sites are registered with their URL before their node starts). */
export async function freePort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as { port: number }).port
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}

/** Short intervals so health changes show within seconds; nothing in the tests times them. */
export const FAST_CONTROL_PLANE = {
  CONTROL_PLANE_HEARTBEAT_INTERVAL: '250ms',
  CONTROL_PLANE_DOWN_AFTER: '3',
  CONTROL_PLANE_METRICS_INTERVAL: '1s',
  CONTROL_PLANE_LOG_LEVEL: 'silent',
}

export async function startNetwork(opts: NetworkOptions): Promise<Network> {
  const cpPort = await freePort()
  const controlPlaneUrl = `http://127.0.0.1:${cpPort}`
  const origin = await startOrigin({
    env: {
      ORIGIN_CONTROL_PLANE_URL: controlPlaneUrl,
      // the tests speak for clients in other places through X-Forwarded-For
      ORIGIN_TRUSTED_PROXIES: '127.0.0.1/32',
      ORIGIN_ASSIGNMENT_TTL: '1s',
      ...opts.originEnv,
    },
  })
  const cpDataDir = await mkdtemp(join(tmpdir(), 'wharf-cp-'))
  const cpEnv = { CONTROL_PLANE_LISTEN: `127.0.0.1:${cpPort}`, ...FAST_CONTROL_PLANE, ...opts.controlPlaneEnv }
  let controlPlane = await spawnControlPlane({ originUrl: origin.url, env: cpEnv, dataDir: cpDataDir })
  const cacheCpUrl = opts.cacheControlPlaneUrl ? await opts.cacheControlPlaneUrl(controlPlaneUrl) : controlPlaneUrl

  let token = ''
  let tokenAt = 0
  const api: Network['api'] = async (method, path, body) => {
    if (Date.now() - tokenAt > 60_000) {
      token = await tokenFor(origin.url, ['controlplane:admin:*'], TEST_ADMIN)
      tokenAt = Date.now()
    }
    const res = await request(`${controlPlaneUrl}/api/v0${path}`, {
      method: method as 'GET',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.body.text()
    let parsed: Record<string, unknown> = {}
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {}
    } catch {
      // CSV and other text answers
    }
    return { status: res.statusCode, body: parsed, text }
  }

  const sites = new Map<string, NetworkSite>()
  for (const spec of opts.sites) {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const created = await api('POST', '/sites', { ...spec, url })
    if (created.status !== 201) throw new Error(`creating site ${spec.name}: ${created.status} ${created.text}`)
    const dataDir = await mkdtemp(join(tmpdir(), `wharf-site-${spec.name}-`))
    const site: NetworkSite = {
      spec,
      url,
      port,
      dataDir,
      cache: undefined,
      async kill() {
        await site.cache?.kill('SIGKILL')
        site.cache = undefined
      },
      async restart() {
        await site.cache?.kill('SIGKILL')
        site.cache = await startSite(site, undefined)
      },
    }
    const joinToken = await api('POST', '/join-tokens', { site: spec.name, uses: 1 })
    if (joinToken.status !== 201) throw new Error(`join token for ${spec.name}: ${joinToken.status} ${joinToken.text}`)
    site.cache = await startSite(site, joinToken.body.token as string)
    sites.set(spec.name, site)
  }

  async function startSite(site: NetworkSite, joinToken: string | undefined) {
    // the parent's URL is the upstream of a chained site
    const parent = site.spec.parent ? sites.get(site.spec.parent) : undefined
    return spawnCache({
      originUrl: origin.url,
      upstreamUrl: parent?.url,
      dataDir: site.dataDir,
      env: {
        CACHE_LISTEN: `127.0.0.1:${site.port}`,
        CACHE_CONTROL_PLANE_URL: cacheCpUrl,
        ...(joinToken ? { CACHE_JOIN_TOKEN: joinToken } : {}),
        ...opts.cacheEnv,
      },
    })
  }

  const network: Network = {
    origin,
    get controlPlane() {
      return controlPlane
    },
    controlPlaneUrl,
    sites,
    site(name) {
      const s = sites.get(name)
      if (!s) throw new Error(`no site ${name}`)
      return s
    },
    api,
    async waitForHealth(name, state) {
      await vi.waitFor(
        async () => {
          const res = await api('GET', `/sites/${name}`)
          const health = res.body.health as { state?: string } | undefined
          if (health?.state !== state) throw new Error(`site ${name} is ${health?.state}, waiting for ${state}`)
        },
        { timeout: 60_000, interval: 100 },
      )
    },
    async restartControlPlane() {
      await controlPlane.kill('SIGTERM')
      controlPlane = await spawnControlPlane({ originUrl: origin.url, env: cpEnv, dataDir: cpDataDir })
    },
    async close() {
      await Promise.all([...sites.values()].map((s) => s.cache?.kill('SIGTERM')))
      await controlPlane.kill('SIGTERM')
      await origin.close()
      await Promise.all([...sites.values()].map((s) => rm(s.dataDir, { recursive: true, force: true })))
      await rm(cpDataDir, { recursive: true, force: true })
    },
  }
  for (const spec of opts.sites) await network.waitForHealth(spec.name, 'up')
  return network
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`

/** Pushes one blob into a repository of the origin (monolithic upload) as `who`; answers its digest. */
export async function uploadBlob(originUrl: string, repo: string, blob: Buffer, who: Credentials): Promise<string> {
  const token = await tokenFor(originUrl, [`repository:${repo}:pull,push`], who)
  const res = await request(`${originUrl}/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
    body: blob,
  })
  await res.body.dump()
  if (res.statusCode !== 201) throw new Error(`uploading a blob to ${repo}: ${res.statusCode}`)
  return sha256(blob)
}

/**
 * GETs a blob from the origin as `who`, from the client address `address` (X-Forwarded-For, trusted from loopback
 * in these networks), and follows a redirect the way docker does: without the Authorization header. Checks the
 * bytes against the digest; answers the site that served them ('origin' when there was no redirect).
 */
export async function pullBlob(
  net: Network,
  o: { repo: string; digest: string; who: Credentials; address: string },
): Promise<{ servedBy: string; location?: URL }> {
  const token = await tokenFor(net.origin.url, [`repository:${o.repo}:pull`], o.who)
  const res = await request(`${net.origin.url}/v2/${o.repo}/blobs/${o.digest}`, {
    headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': o.address },
  })
  let body: Buffer
  let servedBy = 'origin'
  let location: URL | undefined
  if (res.statusCode === 307) {
    await res.body.dump()
    location = new URL(res.headers.location as string)
    const site = [...net.sites.values()].find((s) => new URL(s.url).host === location!.host)
    if (!site) throw new Error(`redirected to an unknown host ${location.host}`)
    servedBy = site.spec.name
    const followed = await request(location)
    if (followed.statusCode !== 200)
      throw new Error(`the site ${servedBy} answered ${followed.statusCode}: ${await followed.body.text()}`)
    body = Buffer.from(await followed.body.arrayBuffer())
  } else {
    if (res.statusCode !== 200) throw new Error(`the origin answered ${res.statusCode}: ${await res.body.text()}`)
    body = Buffer.from(await res.body.arrayBuffer())
  }
  if (sha256(body) !== o.digest) throw new Error(`the blob from ${servedBy} does not match ${o.digest}`)
  return { servedBy, location }
}
