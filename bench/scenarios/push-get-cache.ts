/** Scenario 1-3: push (monolithic and docker-style streamed PATCH), blob GET from the origin, cold and warm GET through the cache. */
import { setTimeout as sleep } from 'node:timers/promises'
import { type BlobFile } from '../lib/blob-file.ts'
import { readProcIo, waitQuiet } from '../lib/proc.ts'
import { note } from '../lib/report.ts'
import { mbPerSecond, round } from '../lib/units.ts'
import { type Side, type Options, type Pair, record, sortedSides } from './context.ts'

export async function pushGetCache(
  opts: Options,
  pairs: Record<Side, Pair>,
  blobs: { monolithic: BlobFile; streamed: BlobFile }[],
): Promise<void> {
  for (let r = 0; r < blobs.length; r++) {
    const warm = r < opts.warmup
    const label = warm ? `warm-up ${r + 1}` : `round ${r - opts.warmup + 1}`
    for (const side of sortedSides(r)) {
      const p = pairs[side]
      const repo = `admin/bench-push-${r + 1}`
      const { monolithic, streamed } = blobs[r]!
      const add = (id: string, v: number) => {
        if (!warm) record(id, side, v)
      }
      const parts: string[] = []
      {
        // the blobs must be on the origin for the GET scenarios, so the pushes always run (timed as push rows)
        const m = await p.originClient.pushMonolithic(repo, monolithic)
        await sleep(300)
        const s = await p.originClient.pushStreamed(repo, streamed)
        add('push.monolithic', mbPerSecond(m.bytes, m.ms))
        add('push.streamed', mbPerSecond(s.bytes, s.ms))
        parts.push(
          `push mono ${round(mbPerSecond(m.bytes, m.ms), 0)} streamed ${round(mbPerSecond(s.bytes, s.ms), 0)} MB/s`,
        )
      }
      await waitQuiet(p.origin.pid, 300, 30_000)
      if (opts.only.has('get')) {
        // warm-up rounds hash what they receive (correctness); counted rounds count bytes, so the client is not the cap
        const g = await p.originClient.pull(repo, monolithic.digest, { expectedSize: monolithic.size, verify: warm })
        add('get.origin', mbPerSecond(g.bytes, g.ms))
        parts.push(`origin GET ${round(mbPerSecond(g.bytes, g.ms), 0)}`)
      }
      if (opts.only.has('cache') && p.cacheClient && p.cache) {
        const io0 = (await readProcIo(p.origin.pid)).wchar
        const c = await p.cacheClient.pull(repo, streamed.digest, { expectedSize: streamed.size, verify: warm })
        add('cache.cold', mbPerSecond(c.bytes, c.ms))
        // the proxy may keep fetching (distribution fills its store with a second GET): wait until both are quiet
        await waitQuiet(p.origin.pid, 500, 60_000)
        await waitQuiet(p.cache.pid, 500, 60_000)
        const sent = (await readProcIo(p.origin.pid)).wchar - io0
        add('cache.cold.originBytes', sent / streamed.size)
        const w = await p.cacheClient.pull(repo, streamed.digest, { expectedSize: streamed.size, verify: warm })
        add('cache.warm', mbPerSecond(w.bytes, w.ms))
        parts.push(
          `cold ${round(mbPerSecond(c.bytes, c.ms), 0)} (origin sent ${round(sent / streamed.size, 2)}×) warm ${round(mbPerSecond(w.bytes, w.ms), 0)}`,
        )
      }
      note(`${side} ${label}: ${parts.join(', ')} MB/s`)
    }
  }
}
