/** Scenario 4: concurrent cold GETs of one blob through the cache: time and bytes the origin sent. */
import { type BlobFile } from '../lib/blob-file.ts'
import { readProcIo, waitQuiet } from '../lib/proc.ts'
import { BenchClient } from '../lib/registry-client.ts'
import { note } from '../lib/report.ts'
import { formatSize, mbPerSecond, round } from '../lib/units.ts'
import { type Side, type Options, type Pair, fanFailures, record, sortedSides } from './context.ts'

export async function fanOut(opts: Options, pairs: Record<Side, Pair>, blobs: BlobFile[]): Promise<void> {
  for (let r = 0; r < blobs.length; r++) {
    const warm = r < opts.warmup
    const blob = blobs[r]!
    for (const side of sortedSides(r)) {
      const p = pairs[side]
      if (!p.cache) continue
      const repo = `admin/bench-fan-${r + 1}`
      await p.originClient.pushMonolithic(repo, blob)
      await waitQuiet(p.origin.pid, 300, 30_000)
      const c = new BenchClient(p.cache.url, { credentials: p.cache.credentials, connections: opts.fanClients })
      try {
        await c.authHeaders(repo) // token first, outside the timing (docker holds one before it pulls)
        const io0 = (await readProcIo(p.origin.pid)).wchar
        const t0 = performance.now()
        const results = await Promise.allSettled(
          Array.from({ length: opts.fanClients }, () =>
            c.pull(repo, blob.digest, { expectedSize: blob.size, verify: false }),
          ),
        )
        const ms = performance.now() - t0
        const failed = results.filter((x) => x.status === 'rejected')
        await waitQuiet(p.origin.pid, 500, 60_000)
        await waitQuiet(p.cache.pid, 500, 60_000)
        const sent = (await readProcIo(p.origin.pid)).wchar - io0
        if (failed.length) {
          note(
            `${side} fan-out: ${failed.length} of ${opts.fanClients} GETs failed: ${String((failed[0] as PromiseRejectedResult).reason).slice(0, 300)}`,
          )
          fanFailures.push(`${side} round ${r + 1}: ${failed.length} failed`)
        }
        if (!warm && failed.length === 0) {
          record('fan.seconds', side, ms / 1000)
          record('fan.originBytes', side, sent / blob.size)
          record('fan.aggregate', side, mbPerSecond(blob.size * opts.fanClients, ms))
        }
        note(
          `${side} fan-out ${warm ? 'warm-up' : `round ${r - opts.warmup + 1}`}: ${opts.fanClients}× ${formatSize(blob.size)} in ${round(ms / 1000, 2)} s, origin sent ${round(sent / blob.size, 2)}× the blob`,
        )
      } finally {
        await c.close()
      }
    }
  }
}
