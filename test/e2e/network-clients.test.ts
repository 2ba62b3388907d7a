/**
 * Real clients through the network: `docker pull <origin>/<repo>:<tag>` (and containerd's `ctr image pull`) for a
 * user assigned to a site gets its manifest from the origin and its layers from the site, by following the
 * origin's 307 with the signed grant; the site's counters show the bytes, and the image digest is the pushed one.
 * With the site down, the same pull still works, from the origin itself.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { request } from 'undici'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { apiClient, createUser } from '../helpers/api.ts'
import { tokenFor, type Credentials } from '../helpers/auth.ts'
import { clientSandbox, describeWithClients, pulledDigest, pushedDigest, type ClientSandbox } from '../helpers/clients.ts'
import { startNetwork, type Network } from '../helpers/network.ts'
import { TEST_ADMIN } from '../helpers/start-origin.ts'

const LAYER_BYTES = 3 << 20

/** The value of one Prometheus counter on a cache node, summed over its label sets. */
async function metric(url: string, name: string): Promise<number> {
  const res = await request(`${url}/metrics`)
  const text = await res.body.text()
  let sum = 0
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.split(' ').at(-1))
  }
  return sum
}

describeWithClients('real clients pulling through a site by redirect', (clients) => {
  let net: Network
  let dev: Credentials
  let sb: ClientSandbox
  let pushed: string
  let tag: string

  beforeAll(async () => {
    net = await startNetwork({ sites: [{ name: 'edge', region: 'local' }] })
    dev = await createUser(apiClient(net.origin.url), TEST_ADMIN, 'dev')
    // dev picks the site as their cache, as a DTR user did in their account settings
    const set = await apiClient(net.origin.url).call('PATCH', '/accounts/dev/settings', dev, { cacheSite: 'edge' })
    expect(set.status).toBe(200)
    sb = clientSandbox(clients, 'network')
    await sb.login(net.origin.host, dev)
    const ctx = mkdtempSync(join(sb.dir, 'ctx-'))
    writeFileSync(join(ctx, 'a.txt'), `network e2e ${randomBytes(4).toString('hex')}\n`)
    writeFileSync(join(ctx, 'b.bin'), randomBytes(LAYER_BYTES))
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a.txt\nCOPY b.bin /b.bin\nCMD ["/a.txt"]\n')
    tag = `${net.origin.host}/dev/app:v1`
    await sb.docker(['build', '-t', tag, ctx])
    pushed = pushedDigest((await sb.docker(['push', tag])).output)
    await sb.docker(['rmi', tag])
  })

  afterAll(async () => {
    await sb?.docker(['rmi', tag]).catch(() => undefined)
    sb?.cleanup()
    await net?.close()
  })

  it('docker pull from the origin takes the layers from the assigned site', async () => {
    const edge = net.site('edge')
    const before = await metric(edge.url, 'wharf_cache_bytes_to_clients_total')
    const pull = await sb.docker(['pull', tag])
    expect(pulledDigest(pull.output)).toBe(pushed)
    const served = (await metric(edge.url, 'wharf_cache_bytes_to_clients_total')) - before
    // both layers and the config went through the site; the manifest did not (it always comes from the origin)
    expect(served).toBeGreaterThanOrEqual(LAYER_BYTES)
    expect(await metric(edge.url, 'wharf_cache_bytes_from_upstream_total')).toBeGreaterThanOrEqual(LAYER_BYTES)
    const inspect = await sb.docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', tag])
    expect(inspect.stdout).toContain(pushed)
    await sb.docker(['rmi', tag])
  })

  it('ctr image pull follows the same redirect', async () => {
    const edge = net.site('edge')
    const before = await metric(edge.url, 'wharf_cache_bytes_to_clients_total')
    const ref = tag
    await sb.ctr(['image', 'pull', '--plain-http', '--user', `${dev.username}:${dev.password}`, '--snapshotter', 'native', ref])
    const ls = await sb.ctr(['image', 'ls'])
    expect(ls.stdout).toContain(pushed)
    expect((await metric(edge.url, 'wharf_cache_bytes_to_clients_total')) - before).toBeGreaterThanOrEqual(LAYER_BYTES)
    await sb.ctr(['image', 'rm', '--sync', ref]).catch(() => undefined)
  })

  it('docker pull still works from the origin while the site is down', async () => {
    await net.site('edge').kill()
    await net.waitForHealth('edge', 'down')
    // wait out the origin's cached answer (1 s here) by asking until the origin serves the blob itself
    const token = await tokenFor(net.origin.url, ['repository:dev/app:pull'], dev)
    const manifest = await request(`${net.origin.url}/v2/dev/app/manifests/v1`, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    })
    const layers = ((await manifest.body.json()) as { layers: { digest: string }[] }).layers
    for (let i = 0; i < 100; i++) {
      const res = await request(`${net.origin.url}/v2/dev/app/blobs/${layers[0]!.digest}`, { headers: { authorization: `Bearer ${token}` } })
      await res.body.dump()
      if (res.statusCode === 200) break
      await new Promise((r) => setTimeout(r, 200))
    }
    const pull = await sb.docker(['pull', tag])
    expect(pulledDigest(pull.output)).toBe(pushed)
  })
})
