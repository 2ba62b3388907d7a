import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { beat, startNetwork, type Network } from './fixtures.ts'

const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n'

let net: Network
beforeAll(async () => {
  net = await startNetwork()
  await net.api.call('POST', '/sites', net.admin, { name: 'plain', url: 'http://cache-plain.internal:5001' })
  await net.api.call('POST', '/sites', net.admin, { name: 'tls', url: 'https://cache-tls.example.com', caCertificate: CA })
  await net.api.call('POST', '/sites', net.admin, { name: 'public', url: 'https://cache-public.example.com' })
})
afterAll(() => net.close())

/** `key = "value"` and `key = true` lines of a TOML-ish file, by [section]. */
function toml(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {}
  let section = ''
  for (const line of text.split('\n').map((l) => l.trim())) {
    const head = /^\[\[?(.+?)\]\]?$/.exec(line)
    if (head) {
      section = head[1]!
      out[section] ??= {}
      continue
    }
    const kv = /^([\w-]+)\s*=\s*(.+)$/.exec(line)
    if (kv) (out[section] ??= {})[kv[1]!] = kv[2]!
  }
  return out
}

describe('client configuration', () => {
  test('a plain-HTTP site: daemon.json with insecure-registries and no registry-mirrors it could not answer', async () => {
    const res = await net.api.call('GET', '/sites/plain/client-config', net.admin)
    expect(res.status).toBe(200)
    const { site, files, trust } = res.body
    expect(site).toMatchObject({ name: 'plain', url: 'http://cache-plain.internal:5001' })
    const docker = files.find((f: { client: string }) => f.client === 'docker')
    expect(docker.path).toBe('/etc/docker/daemon.json')
    expect(JSON.parse(docker.content)).toEqual({ 'insecure-registries': ['cache-plain.internal:5001'] })
    expect(docker.note).toMatch(/no registry-mirrors: plain has not said it mirrors Docker Hub/)
    expect(docker.note).toMatch(/redirected/)

    const containerd = files.find((f: { client: string }) => f.client === 'containerd')
    expect(containerd.path).toBe(`/etc/containerd/certs.d/${net.origin.host}/hosts.toml`)
    const c = toml(containerd.content)
    expect(c['']!.server).toBe(`"${net.origin.url}"`)
    expect(c['host."http://cache-plain.internal:5001"']).toEqual({ capabilities: '["pull", "resolve"]' })

    const podman = files.find((f: { client: string }) => f.client === 'podman')
    expect(podman.path).toBe('/etc/containers/registries.conf.d/wharf-plain.conf')
    expect(toml(podman.content)).toEqual({
      registry: { location: `"${net.origin.host}"` },
      'registry.mirror': { location: '"cache-plain.internal:5001"', insecure: 'true' },
    })
    expect(trust.join('\n')).toMatch(/insecure-registries/)
  })

  test('an https site with its own CA: ca paths and trust steps for each client', async () => {
    const { files, trust } = (await net.api.call('GET', '/sites/tls/client-config', net.admin)).body
    const docker = JSON.parse(files.find((f: { client: string }) => f.client === 'docker').content)
    expect(docker).toEqual({})
    const c = toml(files.find((f: { client: string }) => f.client === 'containerd').content)
    expect(c['host."https://cache-tls.example.com"']!.ca).toBe(
      `"/etc/containerd/certs.d/${net.origin.host}/cache-tls.example.com-ca.crt"`,
    )
    const p = toml(files.find((f: { client: string }) => f.client === 'podman').content)
    expect(p['registry.mirror']).toEqual({ location: '"cache-tls.example.com"' })
    const steps = trust.join('\n')
    expect(steps).toContain('/etc/docker/certs.d/cache-tls.example.com/ca.crt')
    expect(steps).toContain('/etc/containers/certs.d/cache-tls.example.com/ca.crt')
    expect(steps).toContain(`/etc/containerd/certs.d/${net.origin.host}/cache-tls.example.com-ca.crt`)
  })

  test('an https site with a public certificate needs no trust step and no ca line', async () => {
    const { files, trust } = (await net.api.call('GET', '/sites/public/client-config', net.admin)).body
    expect(files.find((f: { client: string }) => f.client === 'containerd').content).not.toContain('ca =')
    expect(trust).toEqual([expect.stringMatching(/nothing to install/)])
  })

  test('registry-mirrors only for a site whose node says it mirrors Docker Hub', async () => {
    const hub = await net.join({ name: 'hub', url: 'http://cache-hub.internal:5001' })
    const other = await net.join({ name: 'quay', url: 'http://cache-quay.internal:5001' })
    const heartbeat = (id: string, credential: string, dockerMirror: string | null) =>
      net.api.call('POST', `/sites/${id}/heartbeat`, { bearer: credential }, beat({ dockerMirror }))
    expect((await heartbeat(hub.site.id, hub.credential, 'docker.io')).status).toBe(200)
    expect((await heartbeat(other.site.id, other.credential, 'quay.io')).status).toBe(200)
    const docker = async (site: string) => {
      const { files } = (await net.api.call('GET', `/sites/${site}/client-config`, net.admin)).body
      return files.find((f: { client: string }) => f.client === 'docker') as { content: string; note: string }
    }
    const h = await docker('hub')
    expect(JSON.parse(h.content)).toEqual({
      'registry-mirrors': ['http://cache-hub.internal:5001'],
      'insecure-registries': ['cache-hub.internal:5001'],
    })
    expect(h.note).toMatch(/only to Docker Hub/)
    expect(JSON.parse((await docker('quay')).content)).toEqual({ 'insecure-registries': ['cache-quay.internal:5001'] })
    // the node stops mirroring Docker Hub: the next heartbeat says so
    expect((await heartbeat(hub.site.id, hub.credential, null)).status).toBe(200)
    expect(JSON.parse((await docker('hub')).content)).toEqual({ 'insecure-registries': ['cache-hub.internal:5001'] })
  })

  test('?client= answers that file as text/plain; ?origin= names the registry', async () => {
    const res = await fetch(`${net.cp.url}/api/v0/sites/tls/client-config?client=podman&origin=registry.example.com`, {
      headers: { authorization: `Bearer ${(net.admin as { bearer: string }).bearer}` },
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/)
    const text = await res.text()
    expect(text).toContain('location = "registry.example.com"')
    const containerd = await net.api.call('GET', '/sites/tls/client-config?origin=registry.example.com', net.admin)
    expect(containerd.body.files[1].path).toBe('/etc/containerd/certs.d/registry.example.com/hosts.toml')
    expect((await net.api.call('GET', '/sites/tls/client-config?client=rkt', net.admin)).status).toBe(400)
    expect((await net.api.call('GET', '/sites/tls/client-config?origin=bad host', net.admin)).status).toBe(400)
    expect((await net.api.call('GET', '/sites/ghost/client-config', net.admin)).status).toBe(404)
  })
})
