/** Scenario 5: manifest GET req/s through a warm cache, by tag and by digest. */
import { OCI_CONFIG, OCI_MANIFEST } from '../lib/debian-image.ts'
import { loadGet, type LoadResult } from '../lib/load.ts'
import { readProcIo } from '../lib/proc.ts'
import { note } from '../lib/report.ts'
import { round } from '../lib/units.ts'
import { type Side, SIDES, type Options, type Pair, extra, record, sortedSides } from './context.ts'

export async function manifests(opts: Options, pairs: Record<Side, Pair>): Promise<void> {
  const repo = 'admin/bench-manifest'
  const tag = 'v1'
  const layer = Buffer.from(`wharf bench layer ${'x'.repeat(1000)}`)
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
  )
  const accept = `${OCI_MANIFEST}, application/vnd.docker.distribution.manifest.v2+json`
  const digests: Partial<Record<Side, string>> = {}
  for (const side of SIDES) {
    const p = pairs[side]
    const layerDigest = await p.originClient.pushBytes(repo, layer)
    const configDigest = await p.originClient.pushBytes(repo, config)
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.byteLength },
        layers: [
          { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.byteLength },
        ],
      }),
    )
    digests[side] = await p.originClient.putManifest(repo, tag, manifest, OCI_MANIFEST)
    // warm the cache: tag and digest once each
    if (p.cacheClient) {
      await p.cacheClient.getManifest(repo, tag, accept)
      await p.cacheClient.getManifest(repo, digests[side]!, accept)
    }
  }
  const targets: { id: string; via: 'cache' | 'origin'; ref: 'tag' | 'digest' }[] = [
    { id: 'manifest.cache.tag', via: 'cache', ref: 'tag' },
    { id: 'manifest.cache.digest', via: 'cache', ref: 'digest' },
    { id: 'manifest.origin.tag', via: 'origin', ref: 'tag' },
    { id: 'manifest.origin.digest', via: 'origin', ref: 'digest' },
  ]
  const details: Record<string, unknown[]> = {}
  for (let r = 0; r < opts.warmup + opts.wrkRounds; r++) {
    const warm = r < opts.warmup
    for (const side of sortedSides(r)) {
      const p = pairs[side]
      for (const t of targets) {
        const server = t.via === 'cache' ? p.cache : p.origin
        const c = t.via === 'cache' ? p.cacheClient : p.originClient
        if (!server || !c) continue
        const url = `${server.url}/v2/${repo}/manifests/${t.ref === 'tag' ? tag : digests[side]}`
        const headers = { accept, ...(await c.authHeaders(repo)) }
        const io0 = (await readProcIo(p.origin.pid)).wchar
        const res: LoadResult = await loadGet(url, {
          connections: opts.wrkConnections,
          seconds: warm ? 1 : opts.wrkSeconds,
          headers,
        })
        const originBytes = (await readProcIo(p.origin.pid)).wchar - io0
        if (!warm && res.non2xx === 0) record(t.id, side, res.requestsPerSecond)
        ;(details[`${t.id}.${side}`] ??= []).push({ round: r, warm, ...res, originBytesDuring: originBytes })
        note(
          `${side} ${t.id} ${warm ? '(warm-up)' : ''}: ${round(res.requestsPerSecond, 0)} req/s p50 ${round(res.p50Ms, 2)} ms p99 ${round(res.p99Ms, 2)} ms non-2xx ${res.non2xx} errors ${res.errors}`,
        )
      }
    }
  }
  extra.manifestLoad = details
}
