/**
 * A chain of sites: `edge` fills from its parent `regional`, which fills from the origin. A redirect to `edge`
 * carries a grant naming both, so each hop accepts it and the origin sends the blob once. The report's origin
 * egress saved, summed over the chain, is exactly what the origin did not send.
 */
import { createHash, randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { apiClient, createUser } from '../helpers/api.ts'
import type { Credentials } from '../helpers/auth.ts'
import { pullBlob, startNetwork, uploadBlob, type Network } from '../helpers/network.ts'
import { TEST_ADMIN } from '../helpers/start-origin.ts'

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`

describe('a chain of sites', () => {
  let net: Network
  let dev: Credentials
  const blob = randomBytes(200_000)
  const repo = 'dev/chained'

  beforeAll(async () => {
    net = await startNetwork({
      sites: [
        { name: 'regional', networks: ['10.30.0.0/16'] },
        { name: 'edge', parent: 'regional', networks: ['10.31.0.0/16'] },
      ],
    })
    dev = await createUser(apiClient(net.origin.url), TEST_ADMIN, 'dev')
    await uploadBlob(net.origin.url, repo, blob, dev)
  })

  afterAll(async () => {
    await net?.close()
  })

  async function pull(address: string, site: string) {
    const { servedBy, location } = await pullBlob(net, { repo, digest: sha256(blob), who: dev, address })
    expect(servedBy).toBe(site)
    // the grant names the site and, for the edge, its parent: each hop accepts it
    const grant = JSON.parse(Buffer.from(location!.searchParams.get('grant')!.split('.')[1]!, 'base64url').toString()) as { sites: string[] }
    expect(grant.sites).toHaveLength(site === 'edge' ? 2 : 1)
  }

  it('fills the edge through its parent with the grant alone, and the origin sends the blob once', async () => {
    await pull('10.31.0.7', 'edge') // miss at edge, miss at regional
    await pull('10.31.0.8', 'edge') // hit at edge
    await pull('10.30.0.9', 'regional') // hit at regional

    const from = new Date(Date.now() - 3600_000).toISOString()
    await vi.waitFor(
      async () => {
        const res = await net.api('GET', `/reports/bandwidth?from=${from}&repository=${repo}`)
        const sites = (res.body.sites as { site: string; bytesServed: number; bytesFromUpstream: number; originEgressSaved: number }[]) ?? []
        const by = Object.fromEntries(sites.map((s) => [s.site, s]))
        expect(by.edge).toMatchObject({ bytesServed: 400_000, bytesFromUpstream: 200_000 })
        // regional served the edge's fill and one client
        expect(by.regional).toMatchObject({ bytesServed: 400_000, bytesFromUpstream: 200_000 })
        // clients got 600,000 bytes, the origin sent 200,000
        expect(by.edge!.originEgressSaved + by.regional!.originEgressSaved).toBe(400_000)
      },
      { timeout: 30_000, interval: 200 },
    )
  })
})
