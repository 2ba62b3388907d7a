/**
 * Assignment through the whole network: three sites in three regions, clients in each region (their address
 * given to the origin in X-Forwarded-For, which it trusts from loopback here), and the rules in their order:
 * user, team, organization, network, distance, default, origin. A site whose node dies leaves assignment once it
 * misses its heartbeats and its clients move to the next nearest site; they come back when it returns.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { apiClient, createOrg, createUser, pushImage } from '../helpers/api.ts'
import type { Credentials } from '../helpers/auth.ts'
import { pullBlob, startNetwork, type Network } from '../helpers/network.ts'
import { TEST_ADMIN } from '../helpers/start-origin.ts'

// client addresses the offline IP database places in each region
const CALIFORNIA = '8.8.8.8'
const LONDON = '81.2.69.142'
const TOKYO = '133.242.0.3'
/** TEST-NET-1: no location anywhere. */
const NOWHERE = '192.0.2.10'

describe('assignment across three regions', () => {
  let net: Network
  let dev: Credentials
  let ops: Credentials
  let layer: string
  const repo = 'acme/app'

  beforeAll(async () => {
    net = await startNetwork({
      sites: [
        { name: 'us-east', region: 'us-east', latitude: 39.04, longitude: -77.49, networks: ['10.1.0.0/16'] },
        { name: 'eu-west', region: 'eu-west', latitude: 53.35, longitude: -6.26, networks: ['10.2.0.0/16'] },
        { name: 'ap-northeast', region: 'ap-northeast', latitude: 35.68, longitude: 139.69, isDefault: true },
      ],
    })
    const api = apiClient(net.origin.url)
    dev = await createUser(api, TEST_ADMIN, 'dev')
    ops = await createUser(api, TEST_ADMIN, 'ops')
    await createOrg(api, TEST_ADMIN, 'acme', 'dev')
    const pushed = await pushImage(net.origin.url, repo, dev)
    expect(pushed.status).toBe(201)
    // ops may read the repository without being in the organization, so only dev gets the org's setting
    const grant = await api.call('PUT', `/repositories/${repo}/_grants/users/ops`, TEST_ADMIN, { role: 'read' })
    expect(grant.status).toBe(200)
    layer = pushed.image.digest(pushed.image.blobs[0]!)
  })

  afterAll(async () => {
    await net?.close()
  })

  /** Pulls the layer as `who` from `address` through the origin; answers which site served it ('origin' if none). */
  const pull = async (who: Credentials, address: string) => (await pullBlob(net, { repo, digest: layer, who, address })).servedBy

  it('sends each client to the nearest site by location', async () => {
    expect(await pull(ops, CALIFORNIA)).toBe('us-east')
    expect(await pull(ops, LONDON)).toBe('eu-west')
    expect(await pull(ops, TOKYO)).toBe('ap-northeast')
  })

  it('sends a client network (CIDR) to its site before looking at distance', async () => {
    expect(await pull(ops, '10.2.3.4')).toBe('eu-west')
    expect(await pull(ops, '10.1.200.1')).toBe('us-east')
  })

  it('sends an address with no location to the default site', async () => {
    expect(await pull(ops, NOWHERE)).toBe('ap-northeast')
  })

  it('puts a user setting first, then teams, then organizations', async () => {
    // dev is a member (owner) of acme: the organization setting applies to dev, not to ops
    expect((await net.api('PUT', '/assignments/org/acme', { site: 'us-east' })).status).toBe(200)
    await vi.waitFor(async () => expect(await pull(dev, TOKYO)).toBe('us-east'), { timeout: 15_000 })
    expect(await pull(ops, TOKYO)).toBe('ap-northeast')

    // a user changes their own cache through the origin's API (DTR's contentCacheUUID)
    const set = await apiClient(net.origin.url).call('PATCH', '/accounts/dev/settings', dev, { cacheSite: 'eu-west' })
    expect(set.status).toBe(200)
    await vi.waitFor(async () => expect(await pull(dev, TOKYO)).toBe('eu-west'), { timeout: 15_000 })
    const settings = await apiClient(net.origin.url).call('GET', '/accounts/dev/settings', dev)
    expect(settings.body).toMatchObject({ cacheSite: 'eu-west' })

    const cleared = await apiClient(net.origin.url).call('PATCH', '/accounts/dev/settings', dev, { cacheSite: null })
    expect(cleared.status).toBe(200)
    await vi.waitFor(async () => expect(await pull(dev, TOKYO)).toBe('us-east'), { timeout: 15_000 })
    expect((await net.api('DELETE', '/assignments/org/acme')).status).toBe(204)
    await vi.waitFor(async () => expect(await pull(dev, TOKYO)).toBe('ap-northeast'), { timeout: 15_000 })
  })

  it('explains which rule chose the site', async () => {
    const res = await net.api('POST', '/assignments/resolve', { user: 'ops', address: LONDON })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ rule: 'geo', site: { name: 'eu-west' } })
    const byNetwork = await net.api('POST', '/assignments/resolve', { address: '10.1.0.9' })
    expect(byNetwork.body).toMatchObject({ rule: 'network', site: { name: 'us-east' } })
    const byDefault = await net.api('POST', '/assignments/resolve', { address: NOWHERE })
    expect(byDefault.body).toMatchObject({ rule: 'default', site: { name: 'ap-northeast' } })
  })

  it('moves the clients of a dead site to the next nearest, and back when it returns', async () => {
    await net.site('eu-west').kill()
    await net.waitForHealth('eu-west', 'down')
    // the moment the site is down its clients have a new answer: the next nearest site
    const moved = await net.api('POST', '/assignments/resolve', { address: LONDON })
    expect(moved.body).toMatchObject({ rule: 'geo', site: { name: 'us-east' } })
    // London is nearer to us-east (5,900 km) than to ap-northeast (9,600 km); the origin's answer cache is 1 s
    await vi.waitFor(async () => expect(await pull(ops, LONDON)).toBe('us-east'), { timeout: 15_000 })
    expect(await pull(ops, TOKYO)).toBe('ap-northeast')
    // an explicit setting for a site that is down falls through to the next rule too
    expect((await net.api('PUT', '/assignments/user/ops', { site: 'eu-west' })).status).toBe(200)
    await vi.waitFor(async () => expect(await pull(ops, CALIFORNIA)).toBe('us-east'), { timeout: 15_000 })

    await net.site('eu-west').restart()
    await net.waitForHealth('eu-west', 'up')
    await vi.waitFor(async () => expect(await pull(ops, CALIFORNIA)).toBe('eu-west'), { timeout: 15_000 })
    expect((await net.api('DELETE', '/assignments/user/ops')).status).toBe(204)
    await vi.waitFor(async () => expect(await pull(ops, LONDON)).toBe('eu-west'), { timeout: 15_000 })

    const health = await net.api('GET', '/sites/eu-west/health')
    const states = (health.body.history as { state: string; reason: string }[]).map((h) => h.state)
    // newest first: back up after being down
    expect(states.slice(0, 2)).toEqual(['up', 'down'])
  })

  it('serves from the origin itself when no site is healthy', async () => {
    await Promise.all(['us-east', 'eu-west', 'ap-northeast'].map((n) => net.site(n).kill()))
    for (const n of ['us-east', 'eu-west', 'ap-northeast']) await net.waitForHealth(n, 'down')
    await vi.waitFor(async () => expect(await pull(ops, LONDON)).toBe('origin'), { timeout: 15_000 })
    const res = await net.api('POST', '/assignments/resolve', { address: LONDON })
    expect(res.body).toMatchObject({ rule: 'origin', site: null })
  })

  it('serves from the origin when the control plane is gone', async () => {
    await net.site('us-east').restart()
    await net.waitForHealth('us-east', 'up')
    await vi.waitFor(async () => expect(await pull(ops, CALIFORNIA)).toBe('us-east'), { timeout: 15_000 })
    await net.controlPlane.kill('SIGKILL')
    // the origin's cached answer may still point at us-east for a moment; then it serves the blob itself
    await vi.waitFor(async () => expect(await pull(ops, CALIFORNIA)).toBe('origin'), { timeout: 15_000 })
  })
})
