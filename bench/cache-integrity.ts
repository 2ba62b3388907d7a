/**
 * What the cache node's bit-rot defences cost, measured on the store itself (in-process, no HTTP):
 *
 *   1 re-hash of cached files at full speed (what a first read after an unclean stop, and the scrub's ceiling, cost)
 *   2 the background scrub at CACHE_SCRUB_BYTES_PER_SECOND: the rate it holds, and its CPU per GB
 *   3 a whole read of an entry with and without the digest check that holds back the last byte (every full GET)
 *   4 start-up with many entries after a clean and after an unclean stop (the unclean one marks every entry for
 *     a re-hash before it is served: the re-hash itself is row 1's cost, paid on first read or by the scrub)
 *   5 warm GETs over HTTP from two cache node processes (`cache-node/main.ts`), CACHE_VERIFY_READS on and off, with
 *     a node:http upstream: MB/s and the cache process's CPU per GB (rounds alternate which goes first)
 *
 *   npx tsx bench/cache-integrity.ts [--size 2GiB] [--blob 256MiB] [--entries 20000] [--rate 64MiB]
 *                                   [--rate-seconds 5] [--rounds 3] [--http-rounds 5] [--cold]
 *
 * --cold drops the page cache before each timed pass of rows 1 and 3 (needs root; it slows everything else on the
 * machine for a moment), so they read from the disk; without it the files are in the page cache and the figures
 * are the hashing cost. stdout: a Markdown table; stderr: progress. MB = 10^6 bytes.
 */
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { parseArgs } from 'node:util'
import pino from 'pino'
import { request } from 'undici'
import { BlobStore, CLEAN_STOP_FILE } from '../cache-node/store/blob-store.ts'
import { IndexDb } from '../cache-node/store/index-db.ts'
import { Scrubber } from '../cache-node/store/scrub.ts'
import { readProcCpuSeconds } from './lib/proc.ts'
import { machineInfo, markdownTable, note } from './lib/report.ts'
import { formatSummary, summarize } from './lib/stats.ts'
import { MiB, formatSize, mbPerSecond, parseSize, round } from './lib/units.ts'

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '2GiB' },
    blob: { type: 'string', default: '256MiB' },
    entries: { type: 'string', default: '20000' },
    rate: { type: 'string', default: '64MiB' },
    'rate-seconds': { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    'http-rounds': { type: 'string', default: '5' },
    cold: { type: 'boolean', default: false },
  },
})
const total = parseSize(values.size)
const blobSize = parseSize(values.blob)
const entryCount = Number(values.entries)
const rate = parseSize(values.rate)
const rateSeconds = Number(values['rate-seconds'])
const rounds = Number(values.rounds)
const httpRounds = Number(values['http-rounds'])

const log = pino({ level: 'silent' })
const rows: string[][] = []
const cpu = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

async function dropCaches(): Promise<void> {
  if (!values.cold) return
  await writeFile('/proc/sys/vm/drop_caches', '3\n')
}

/** A store in a fresh folder with `count` entries of `size` random-ish bytes each (distinct digests). */
async function storeWith(count: number, size: number): Promise<{ dir: string; index: IndexDb; store: BlobStore; digests: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'wharf-integrity-'))
  const index = new IndexDb(join(dir, 'index.db'))
  const store = new BlobStore({ dir, index, maxBytes: Number.MAX_SAFE_INTEGER, fsync: false, now: Date.now, log })
  await store.init()
  const block = randomBytes(Math.min(size, 16 * MiB))
  const digests: string[] = []
  for (let i = 0; i < count; i++) {
    const file = store.tmpPath()
    const fh = await open(file, 'w')
    const hash = createHash('sha256')
    const salt = randomBytes(16)
    hash.update(salt)
    await fh.write(salt)
    for (let left = size - salt.byteLength; left > 0; ) {
      const part = block.subarray(0, Math.min(left, block.byteLength))
      hash.update(part)
      await fh.write(part)
      left -= part.byteLength
    }
    await fh.close()
    const digest = `sha256:${hash.digest('hex')}`
    await store.commit(file, { digest, size, mediaType: null, source: 'wharf' })
    digests.push(digest)
  }
  return { dir, index, store, digests }
}

async function main(): Promise<void> {
  const m = machineInfo()
  note(`machine: ${JSON.stringify(m)}`)
  const count = Math.max(1, Math.round(total / blobSize))
  note(`writing ${count} entries of ${formatSize(blobSize)} (${formatSize(count * blobSize)})`)
  const big = await storeWith(count, blobSize)
  try {
    // 1 re-hash at full speed
    const rehash: number[] = []
    const rehashCpu: number[] = []
    for (let r = 0; r < rounds; r++) {
      await dropCaches()
      const t0 = performance.now()
      const c0 = cpu()
      for (const d of big.digests) if (!(await big.store.verify(d, 'scrub'))) throw new Error(`${d} did not verify`)
      const ms = performance.now() - t0
      rehash.push(mbPerSecond(count * blobSize, ms))
      rehashCpu.push((cpu() - c0) / ((count * blobSize) / 1e9))
    }
    rows.push(['re-hash at full speed (first read after an unclean stop; scrub ceiling)', 'MB/s', formatSummary(summarize(rehash))])
    rows.push(['… CPU per GB re-hashed', 'CPU s/GB', formatSummary(summarize(rehashCpu, 2))])
    rows.push([
      `… first read of one unverified ${formatSize(blobSize)} entry waits`,
      'ms',
      String(round((blobSize / 1e6 / summarize(rehash).median) * 1000, 0)),
    ])

    // 2 the scrub at its rate: every entry is due (the clock is a year ahead)
    const scrubRates: number[] = []
    const scrubCpu: number[] = []
    for (let r = 0; r < rounds; r++) {
      let bytes = 0
      const scrub = new Scrubber({
        store: big.store,
        index: big.index,
        bytesPerSecond: rate,
        intervalMs: 60_000,
        now: () => Date.now() + 365 * 24 * 3_600_000 * (r + 1),
        log,
        onBytes: (n) => (bytes += n),
      })
      const t0 = performance.now()
      const c0 = cpu()
      scrub.start()
      await new Promise((res) => setTimeout(res, rateSeconds * 1000))
      await scrub.stop()
      const ms = performance.now() - t0
      scrubRates.push(mbPerSecond(bytes, ms))
      scrubCpu.push((cpu() - c0) / (bytes / 1e9))
    }
    rows.push([`scrub at CACHE_SCRUB_BYTES_PER_SECOND=${formatSize(rate)} (${round(rate / 1e6)} MB/s), held rate`, 'MB/s', formatSummary(summarize(scrubRates))])
    rows.push(['… CPU per GB scrubbed', 'CPU s/GB', formatSummary(summarize(scrubCpu, 3))])
    rows.push(['… CPU share of one core while scrubbing', '%', formatSummary(summarize(scrubCpu.map((c, i) => round((c * scrubRates[i]!) / 10, 1))))])

    // 3 a whole read, plain and checked
    const plain: number[] = []
    const checked: number[] = []
    const plainCpu: number[] = []
    const checkedCpu: number[] = []
    const digest = big.digests[0]!
    const sink = () => new Writable({ highWaterMark: 1 << 20, write: (_c, _e, cb) => cb() })
    for (let r = 0; r < rounds; r++) {
      for (const kind of r % 2 === 0 ? ['plain', 'checked'] : ['checked', 'plain']) {
        await dropCaches()
        const fh = (await big.store.openFile(digest))!
        const t0 = performance.now()
        const c0 = cpu()
        const s = kind === 'plain' ? big.store.stream(fh) : big.store.verifiedStream(fh, digest, blobSize)
        await pipeline(s, sink())
        const ms = performance.now() - t0
        const perGb = (cpu() - c0) / (blobSize / 1e9)
        ;(kind === 'plain' ? plain : checked).push(mbPerSecond(blobSize, ms))
        ;(kind === 'plain' ? plainCpu : checkedCpu).push(perGb)
      }
    }
    rows.push([`whole read of a ${formatSize(blobSize)} entry, unchecked`, 'MB/s', formatSummary(summarize(plain))])
    rows.push(['… with the digest check (every full GET of an entry)', 'MB/s', formatSummary(summarize(checked))])
    rows.push(['… CPU per GB, unchecked / checked', 'CPU s/GB', `${formatSummary(summarize(plainCpu, 2))} / ${formatSummary(summarize(checkedCpu, 2))}`])
  } finally {
    big.index.close()
    await rm(big.dir, { recursive: true, force: true })
  }

  // 4 start-up with many entries
  note(`writing ${entryCount} entries of 4 KiB for the start-up rows`)
  const many = await storeWith(entryCount, 4096)
  try {
    many.index.close()
    const startup = async (clean: boolean): Promise<{ ms: number; unverified: number }> => {
      if (clean) await writeFile(join(many.dir, CLEAN_STOP_FILE), 'bench\n')
      const index = new IndexDb(join(many.dir, 'index.db'))
      const t0 = performance.now()
      const store = new BlobStore({ dir: many.dir, index, maxBytes: Number.MAX_SAFE_INTEGER, fsync: false, now: Date.now, log })
      const report = await store.init()
      const ms = performance.now() - t0
      index.close()
      return { ms, unverified: report.unverified }
    }
    const clean: number[] = []
    const unclean: number[] = []
    for (let r = 0; r < rounds; r++) {
      clean.push((await startup(true)).ms)
      const u = await startup(false)
      if (u.unverified !== entryCount && r === 0) throw new Error(`expected ${entryCount} unverified, got ${u.unverified}`)
      unclean.push(u.ms)
    }
    rows.push([`start-up repair with ${entryCount} entries, after a clean stop`, 'ms', formatSummary(summarize(clean))])
    rows.push(['… after an unclean stop (every entry marked for a re-hash before use)', 'ms', formatSummary(summarize(unclean))])
  } finally {
    await rm(many.dir, { recursive: true, force: true })
  }

  await httpRows()

  const cores = m.cpus
  process.stdout.write(
    `cache integrity, ${values.cold ? 'cold (page cache dropped)' : 'warm (page cache)'}, ${rounds} rounds, ${cores} cores: median (min–max)\n\n`,
  )
  process.stdout.write(`${markdownTable(['what', 'unit', 'value'], rows)}\n`)
}

/** Row 5: the same warm GET from a cache node with the read check and one without. */
async function httpRows(): Promise<void> {
  const bytes = randomBytes(blobSize)
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`
  const upstream = createServer((req, res) => {
    if (req.url === `/v2/x/blobs/${digest}`) {
      res.writeHead(200, { 'Content-Length': bytes.byteLength, 'Content-Type': 'application/octet-stream' })
      res.end(req.method === 'HEAD' ? undefined : bytes)
      return
    }
    res.writeHead(req.url === '/v2/' ? 200 : 404, { 'Content-Type': 'application/json' })
    res.end('{}')
  })
  upstream.listen(0, '127.0.0.1')
  await once(upstream, 'listening')
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
  const caches: { verify: boolean; url: string; pid: number; dir: string; stop: () => Promise<void> }[] = []
  try {
    for (const verify of [true, false]) {
      const dir = await mkdtemp(join(tmpdir(), 'wharf-integrity-http-'))
      const child = spawn(process.execPath, ['--import', 'tsx', 'cache-node/main.ts'], {
        cwd: resolve(import.meta.dirname, '..'),
        env: {
          ...process.env,
          CACHE_LISTEN: '127.0.0.1:0',
          CACHE_DATA_DIR: dir,
          CACHE_ORIGIN_URL: 'http://127.0.0.1:1',
          CACHE_UPSTREAMS: `bench/=${upstreamUrl}`,
          CACHE_VERIFY_READS: String(verify),
          CACHE_SCRUB_BYTES_PER_SECOND: '0',
          CACHE_FSYNC: 'false',
          CACHE_LOG_LEVEL: 'error',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      const exited = once(child, 'exit')
      const host = await new Promise<string>((ok, fail) => {
        createInterface({ input: child.stdout }).on('line', (l) => {
          if (l.startsWith('WHARF_CACHE_READY ')) ok(l.slice('WHARF_CACHE_READY '.length).trim())
        })
        child.once('exit', (code) => fail(new Error(`cache node exited with ${code}`)))
      })
      caches.push({
        verify,
        url: `http://${host}`,
        pid: child.pid!,
        dir,
        stop: async () => {
          child.kill('SIGTERM')
          await exited
          await rm(dir, { recursive: true, force: true })
        },
      })
    }
    const get = async (url: string): Promise<number> => {
      const res = await request(`${url}/v2/bench/x/blobs/${digest}`)
      let n = 0
      for await (const c of res.body) n += (c as Buffer).byteLength
      if (res.statusCode !== 200 || n !== blobSize) throw new Error(`GET ${url}: ${res.statusCode}, ${n} bytes`)
      return n
    }
    for (const c of caches) await get(c.url) // the cold fill, not counted
    const figures = new Map(caches.map((c) => [c.verify, { mbs: [] as number[], cpu: [] as number[] }]))
    for (let r = 0; r < httpRounds; r++) {
      for (const c of r % 2 === 0 ? caches : [...caches].reverse()) {
        const c0 = await readProcCpuSeconds(c.pid)
        const t0 = performance.now()
        const n = await get(c.url)
        const ms = performance.now() - t0
        figures.get(c.verify)!.mbs.push(mbPerSecond(n, ms))
        figures.get(c.verify)!.cpu.push(((await readProcCpuSeconds(c.pid)) - c0) / (n / 1e9))
      }
    }
    const on = figures.get(true)!
    const off = figures.get(false)!
    rows.push([
      `warm GET of a ${formatSize(blobSize)} blob over HTTP, CACHE_VERIFY_READS=false / true`,
      'MB/s',
      `${formatSummary(summarize(off.mbs))} / ${formatSummary(summarize(on.mbs))}`,
    ])
    rows.push([
      '… cache process CPU per GB, false / true',
      'CPU s/GB',
      `${formatSummary(summarize(off.cpu, 2))} / ${formatSummary(summarize(on.cpu, 2))}`,
    ])
  } finally {
    for (const c of caches) await c.stop()
    upstream.closeAllConnections()
    upstream.close()
  }
}

await main()
