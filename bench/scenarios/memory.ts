/** Scenario 6: peak RSS serving concurrent big GETs. */
import { type BlobFile } from '../lib/blob-file.ts'
import { waitQuiet, withRssSampling } from '../lib/proc.ts'
import { BenchClient } from '../lib/registry-client.ts'
import { note } from '../lib/report.ts'
import { formatSize, mbPerSecond, round } from '../lib/units.ts'
import { type Side, SIDES, type Options, type Pair, record, sortedSides } from './context.ts'

export async function memory(opts: Options, pairs: Record<Side, Pair>, blob: BlobFile): Promise<void> {
  const repo = 'admin/bench-memory'
  for (const side of SIDES) {
    const p = pairs[side]
    await p.originClient.pushMonolithic(repo, blob)
    if (p.cacheClient && p.cache) {
      await p.cacheClient.pull(repo, blob.digest, { expectedSize: blob.size, verify: true })
      await waitQuiet(p.origin.pid, 500, 60_000)
      await waitQuiet(p.cache.pid, 500, 60_000)
    }
  }
  for (let r = 0; r < opts.memRounds; r++) {
    for (const side of sortedSides(r)) {
      const p = pairs[side]
      for (const via of ['origin', 'cache'] as const) {
        const server = via === 'cache' ? p.cache : p.origin
        if (!server) continue
        const c = new BenchClient(server.url, { credentials: server.credentials, connections: opts.memClients })
        try {
          await c.authHeaders(repo)
          const { value: ms, rss } = await withRssSampling(
            server.pid,
            async () => {
              const t0 = performance.now()
              await Promise.all(
                Array.from({ length: opts.memClients }, () =>
                  c.pull(repo, blob.digest, { expectedSize: blob.size, verify: false }),
                ),
              )
              return performance.now() - t0
            },
            { intervalMs: 50 },
          )
          record(`memory.${via}`, side, rss.peakRssMB)
          record(`memory.${via}.start`, side, rss.startRssMB)
          record(`memory.${via}.cpu`, side, rss.cpuSeconds)
          record(`memory.${via}.aggregate`, side, mbPerSecond(blob.size * opts.memClients, ms))
          note(
            `${side} ${via}: ${opts.memClients}× ${formatSize(blob.size)} in ${round(ms / 1000, 1)} s, peak RSS ${rss.peakRssMB} MB (start ${rss.startRssMB}), cpu ${rss.cpuSeconds} s`,
          )
        } finally {
          await c.close()
        }
      }
    }
  }
}
