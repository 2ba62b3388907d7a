/** Scenario 8: machine limits (sha256 over a file, writing and syncing a file, loopback streaming), before any registry runs. */
import { type BlobFile } from '../lib/blob-file.ts'
import { countingGetMs, hashFileMs, opensslHashMs, startLoopbackServer, writeSyncMs } from '../lib/limits.ts'
import { note } from '../lib/report.ts'
import { GiB, MiB, mbPerSecond } from '../lib/units.ts'
import { type Options, record } from './context.ts'

export async function machineLimits(opts: Options, file: BlobFile | undefined): Promise<void> {
  note('machine limits: sha256 over a file, writing and syncing a file, loopback streaming')
  const n = opts.quick ? 3 : 5
  if (file) {
    await hashFileMs(file.path) // warm-up: page cache
    for (let i = 0; i < n; i++) {
      record('limit.sha256.node', 'wharf', mbPerSecond(file.size, await hashFileMs(file.path)))
      const o = await opensslHashMs(file.path)
      if (o !== undefined) record('limit.sha256.openssl', 'wharf', mbPerSecond(file.size, o))
      record('limit.disk.write', 'wharf', mbPerSecond(file.size, await writeSyncMs(file.path, file.size)))
    }
  }
  const server = await startLoopbackServer()
  try {
    const memBytes = opts.quick ? 512 * MiB : GiB
    await countingGetMs(`${server.url}/mem?bytes=${64 * MiB}`, 64 * MiB)
    for (let i = 0; i < n; i++) {
      record(
        'limit.loopback.mem',
        'wharf',
        mbPerSecond(memBytes, await countingGetMs(`${server.url}/mem?bytes=${memBytes}`, memBytes)),
      )
      if (file) {
        const url = `${server.url}/file?path=${encodeURIComponent(file.path)}`
        record('limit.loopback.file', 'wharf', mbPerSecond(file.size, await countingGetMs(url, file.size)))
      }
    }
  } finally {
    await server.stop()
  }
}
