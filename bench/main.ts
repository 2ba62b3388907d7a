/**
 * `npm run bench [-- --quick]`: Wharf (origin + cache node) against CNCF Distribution 2.8.2 (origin + pull-through
 * proxy) in ONE run, on loopback, with the same blobs, interleaved rounds (the order alternates every round) and
 * uncounted warm-up rounds; every figure is median (min–max) and every comparison is Wharf / Distribution.
 *
 *   1 push (monolithic and docker-style streamed PATCH)      5 manifest GET req/s through a warm cache, tag and digest
 *   2 blob GET from the origin                              6 peak RSS serving 16 concurrent big GETs
 *   3 cold and warm GET through the cache                   7 docker pull of a real Debian image (mmdebstrap)
 *   4 32 concurrent cold GETs: time and bytes the origin sent 8 machine limits (sha256, loopback streaming)
 *
 * Writes bench/results/<date>[-quick].json and bench/results/latest.md, prints the Markdown table on stdout
 * (progress on stderr). Wharf's cache rows read "cache node not built" while cache-node/main.ts does not exist.
 *
 * Options: --quick, --rounds N, --warmup N, --push-size 512MiB, --fan-size 128MiB, --fan-clients 32,
 *   --mem-size 1GiB, --mem-clients 16, --wrk-seconds 10, --only push,get,cache,fan,manifest,memory,docker,limits,
 *   --wharf-node-args="--cpu-prof --cpu-prof-dir=/tmp/prof", --keep, --update-readme, --no-install
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { ensureRandomBlob, type BlobFile } from './lib/blob-file.ts'
import { ensureDebianImage, importImage, OCI_CONFIG, OCI_MANIFEST, type DebianImage } from './lib/debian-image.ts'
import { countingGetMs, hashFileMs, opensslHashMs, startLoopbackServer, writeSyncMs } from './lib/limits.ts'
import { loadGet, wrkAvailable, type LoadResult } from './lib/load.ts'
import { readProcIo, waitQuiet, withRssSampling } from './lib/proc.ts'
import { RegistryClient } from './lib/registry-client.ts'
import { machineInfo, markdownTable, note } from './lib/report.ts'
import {
  cacheNodeAvailable,
  REPO_ROOT,
  startDistribution,
  startWharfCache,
  startWharfOrigin,
  type BenchServer,
} from './lib/servers.ts'
import { formatSummary, ratio, summarize, type Summary } from './lib/stats.ts'
import { commandVersion, dockerClients, ensureCommands, which } from './lib/tools.ts'
import { GiB, MiB, formatSize, mbPerSecond, parseSize, round } from './lib/units.ts'

const SCENARIOS = ['limits', 'push', 'get', 'cache', 'fan', 'manifest', 'memory', 'docker'] as const
type Scenario = (typeof SCENARIOS)[number]
type Side = 'wharf' | 'distribution'
const SIDES: Side[] = ['wharf', 'distribution']

interface Options {
  quick: boolean
  rounds: number
  warmup: number
  pushSize: number
  fanSize: number
  fanClients: number
  fanRounds: number
  memSize: number
  memClients: number
  memRounds: number
  wrkSeconds: number
  wrkRounds: number
  wrkConnections: number
  dockerRounds: number
  only: Set<Scenario>
  wharfNodeArgs: string[]
  keep: boolean
  updateReadme: boolean
  install: boolean
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      warmup: { type: 'string' },
      'push-size': { type: 'string' },
      'fan-size': { type: 'string' },
      'fan-clients': { type: 'string', default: '32' },
      'mem-size': { type: 'string' },
      'mem-clients': { type: 'string', default: '16' },
      'wrk-seconds': { type: 'string' },
      only: { type: 'string', default: SCENARIOS.join(',') },
      'wharf-node-args': { type: 'string', default: '' },
      keep: { type: 'boolean', default: false },
      'update-readme': { type: 'boolean', default: false },
      'no-install': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    console.log(
      'usage: npm run bench -- [--quick] [--rounds N] [--warmup N] [--push-size 512MiB] [--fan-size 128MiB]\n' +
        '  [--fan-clients 32] [--mem-size 1GiB] [--mem-clients 16] [--wrk-seconds 10] [--only ' +
        SCENARIOS.join(',') +
        ']\n  [--wharf-node-args="--cpu-prof --cpu-prof-dir=/tmp/prof"] [--keep] [--update-readme] [--no-install]',
    )
    process.exit(0)
  }
  const q = values.quick
  const int = (name: string, v: string | undefined, dflt: number, min: number): number => {
    if (v === undefined) return dflt
    const n = Number(v)
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}`)
    return n
  }
  const only = new Set<Scenario>()
  for (const s of values.only.split(',').map((x) => x.trim())) {
    if (!(SCENARIOS as readonly string[]).includes(s)) throw new Error(`--only: unknown "${s}" (${SCENARIOS.join(', ')})`)
    only.add(s as Scenario)
  }
  const rounds = int('rounds', values.rounds, q ? 3 : 5, 1)
  return {
    quick: q,
    rounds,
    warmup: int('warmup', values.warmup, 1, 0),
    pushSize: parseSize(values['push-size'] ?? (q ? '128MiB' : '512MiB')),
    fanSize: parseSize(values['fan-size'] ?? '128MiB'),
    fanClients: int('fan-clients', values['fan-clients'], 32, 1),
    fanRounds: q ? Math.min(rounds, 2) : Math.min(rounds, 3),
    memSize: parseSize(values['mem-size'] ?? (q ? '256MiB' : '1GiB')),
    memClients: int('mem-clients', values['mem-clients'], 16, 1),
    memRounds: q ? 1 : 2,
    wrkSeconds: int('wrk-seconds', values['wrk-seconds'], q ? 3 : 10, 1),
    wrkRounds: q ? 2 : 3,
    wrkConnections: 32,
    dockerRounds: q ? 2 : 3,
    only,
    wharfNodeArgs: values['wharf-node-args'].split(/\s+/).filter(Boolean),
    keep: values.keep,
    updateReadme: values['update-readme'],
    install: !values['no-install'],
  }
}

// ------------------------------------------------------------------------------------------------ results

type Better = 'higher' | 'lower'

interface Row {
  id: string
  group: string
  what: string
  unit: string
  better: Better
  wharf?: Summary
  distribution?: Summary
  /** Why a side has no figure ("cache node not built", "docker unavailable"...). */
  missing?: Partial<Record<Side, string>>
  /** Wharf / Distribution of the medians. */
  ratio?: number
  target?: { text: string; met: boolean | null }
}

const rows: Row[] = []
const samples: Record<string, Partial<Record<Side, number[]>>> = {}
const extra: Record<string, unknown> = {}
const fanFailures: string[] = []
extra.fanFailures = fanFailures

function record(id: string, side: Side, value: number): void {
  ;((samples[id] ??= {})[side] ??= []).push(value)
}

function sortedSides(roundIndex: number): Side[] {
  // alternate who goes first so drift (page cache, other load) does not always favour the same side
  return roundIndex % 2 === 0 ? SIDES : [...SIDES].reverse()
}

// ------------------------------------------------------------------------------------------------ main

interface Pair {
  origin: BenchServer
  originClient: RegistryClient
  cache?: BenchServer
  cacheClient?: RegistryClient
  /** Why there is no cache server for this side. */
  cacheMissing?: string
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2))
  const startedAt = new Date()
  const loadAtStart = machineInfo().loadavg
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`
  note(`${command}: ${opts.quick ? 'quick' : 'full'} mode, scenarios ${[...opts.only].join(', ')}`)
  const has = (s: Scenario) => opts.only.has(s)

  if (opts.install) {
    const cmds = ['docker-registry', 'openssl']
    if (has('manifest')) cmds.push('wrk')
    if (has('docker')) cmds.push('mmdebstrap')
    await ensureCommands(cmds, note)
  }
  if (!which('docker-registry')) throw new Error('docker-registry (Distribution 2.8.2) is missing: apt-get install -y docker-registry')

  // ---- data: one random file per counted or warm-up round, the same file for both sides
  const total = opts.warmup + opts.rounds
  const pushBlobs: { monolithic: BlobFile; streamed: BlobFile }[] = []
  if (has('push') || has('get') || has('cache')) {
    for (let i = 0; i < total; i++) {
      pushBlobs.push({
        monolithic: await ensureRandomBlob(opts.pushSize, { name: `push-mono-${i + 1}`, log: note }),
        streamed: await ensureRandomBlob(opts.pushSize, { name: `push-stream-${i + 1}`, log: note }),
      })
    }
  }
  const fanBlobs: BlobFile[] = []
  if (has('fan')) {
    for (let i = 0; i < opts.warmup + opts.fanRounds; i++)
      fanBlobs.push(await ensureRandomBlob(opts.fanSize, { name: `fan-${i + 1}`, log: note }))
  }
  const memBlob = has('memory') ? await ensureRandomBlob(opts.memSize, { name: 'mem-1', log: note }) : undefined
  let image: DebianImage | undefined
  let imageMissing: string | undefined
  if (has('docker')) {
    if (!which('mmdebstrap')) imageMissing = 'mmdebstrap missing'
    else {
      try {
        image = await ensureDebianImage({ log: note })
      } catch (err) {
        imageMissing = `image build failed: ${(err as Error).message.slice(0, 200)}`
        note(imageMissing)
      }
    }
  }

  // ---- machine limits first, before any registry runs
  if (has('limits')) await machineLimits(opts, pushBlobs[0]?.monolithic ?? memBlob ?? fanBlobs[0])

  // ---- servers
  const servers: BenchServer[] = []
  const clients: RegistryClient[] = []
  const stopAll = async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)))
    // caches and proxies before their origins
    for (const s of [...servers].reverse()) await s.stop().catch(() => undefined)
  }
  const onSignal = (signal: NodeJS.Signals) => {
    note(`${signal}: stopping servers`)
    void stopAll().finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const client = (s: BenchServer, connections = 4) => {
    const c = new RegistryClient(s.url, { credentials: s.credentials, connections })
    clients.push(c)
    return c
  }

  try {
    const wOrigin = await startWharfOrigin({ keep: opts.keep, nodeArgs: opts.wharfNodeArgs })
    servers.push(wOrigin)
    const dOrigin = await startDistribution({ keep: opts.keep })
    servers.push(dOrigin)
    const dProxy = await startDistribution({ keep: opts.keep, proxyOf: dOrigin })
    servers.push(dProxy)
    const pairs: Record<Side, Pair> = {
      wharf: { origin: wOrigin, originClient: client(wOrigin) },
      distribution: { origin: dOrigin, originClient: client(dOrigin), cache: dProxy, cacheClient: client(dProxy) },
    }
    if (cacheNodeAvailable()) {
      try {
        const wCache = await startWharfCache(wOrigin, { keep: opts.keep, nodeArgs: opts.wharfNodeArgs })
        servers.push(wCache)
        pairs.wharf.cache = wCache
        pairs.wharf.cacheClient = client(wCache)
        await pairs.wharf.cacheClient.ping()
      } catch (err) {
        pairs.wharf.cacheMissing = `cache node failed to start: ${(err as Error).message.split('\n')[0]}`
        note(pairs.wharf.cacheMissing)
      }
    } else {
      pairs.wharf.cacheMissing = 'cache node not built'
      note('cache-node/main.ts does not exist: Wharf cache rows are reported as "cache node not built"')
    }
    for (const s of servers) note(`${s.label} (${s.version}) pid ${s.pid} on ${s.url}`)
    extra.servers = servers.map((s) => ({ label: s.label, kind: s.kind, url: s.url, version: s.version, settings: s.settings }))

    if (has('push') || has('get') || has('cache')) await pushGetCache(opts, pairs, pushBlobs)
    if (has('fan')) await fanOut(opts, pairs, fanBlobs)
    if (has('manifest')) await manifests(opts, pairs)
    if (has('memory') && memBlob) await memory(opts, pairs, memBlob)
    if (has('docker')) await dockerPulls(opts, pairs, image, imageMissing)
  } finally {
    await stopAll()
  }

  // ---- report
  const finishedAt = new Date()
  const machine = machineInfo()
  buildRows(opts)
  const table = renderTable()
  const header =
    `Wharf vs CNCF Distribution 2.8.2, ${opts.quick ? 'quick' : 'full'} mode, ${finishedAt.toISOString().slice(0, 16)}Z, ` +
    `${machine.cpus}× ${machine.cpuModel}, ${round(machine.memTotalMB / 1000, 1)} GB RAM, Linux ${machine.kernel}, ` +
    `Node ${machine.node}; load average at start ${loadAtStart.join(' ')}, at end ${machine.loadavg.join(' ')}.\n` +
    `Command: \`${command}\`. MB = 10^6 bytes; figures are median (min–max) over counted rounds ` +
    `(${opts.warmup} warm-up round(s) not counted); ratio = Wharf / Distribution of the medians.`
  const markdown = `${header}\n\n${table}\n`
  const result = {
    benchmark: 'wharf-vs-distribution',
    schema: 1,
    mode: opts.quick ? 'quick' : 'full',
    command,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    machine,
    params: {
      rounds: opts.rounds,
      warmup: opts.warmup,
      pushSize: formatSize(opts.pushSize),
      fanSize: formatSize(opts.fanSize),
      fanClients: opts.fanClients,
      fanRounds: opts.fanRounds,
      memSize: formatSize(opts.memSize),
      memClients: opts.memClients,
      wrkSeconds: opts.wrkSeconds,
      wrkConnections: opts.wrkConnections,
      wrkRounds: opts.wrkRounds,
      dockerRounds: opts.dockerRounds,
      loadTool: wrkAvailable() ? 'wrk' : 'undici',
    },
    rows,
    samples,
    extra,
  }
  const dir = join(REPO_ROOT, 'bench', 'results')
  await mkdir(dir, { recursive: true })
  const file = join(dir, `${startedAt.toISOString().slice(0, 10)}${opts.quick ? '-quick' : ''}.json`)
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`)
  await writeFile(join(dir, 'latest.md'), markdown)
  note(`results: ${file} and bench/results/latest.md`)
  if (opts.updateReadme) await updateReadme(markdown)
  console.log(markdown)
}


// ------------------------------------------------------------------------------------------------ 8 limits

async function machineLimits(opts: Options, file: BlobFile | undefined): Promise<void> {
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
      record('limit.loopback.mem', 'wharf', mbPerSecond(memBytes, await countingGetMs(`${server.url}/mem?bytes=${memBytes}`, memBytes)))
      if (file) {
        const url = `${server.url}/file?path=${encodeURIComponent(file.path)}`
        record('limit.loopback.file', 'wharf', mbPerSecond(file.size, await countingGetMs(url, file.size)))
      }
    }
  } finally {
    await server.stop()
  }
}

// ------------------------------------------------------------------------------------------------ 1-3

async function pushGetCache(
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
        parts.push(`push mono ${round(mbPerSecond(m.bytes, m.ms), 0)} streamed ${round(mbPerSecond(s.bytes, s.ms), 0)} MB/s`)
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

// ------------------------------------------------------------------------------------------------ 4 fan-out

async function fanOut(opts: Options, pairs: Record<Side, Pair>, blobs: BlobFile[]): Promise<void> {
  for (let r = 0; r < blobs.length; r++) {
    const warm = r < opts.warmup
    const blob = blobs[r]!
    for (const side of sortedSides(r)) {
      const p = pairs[side]
      if (!p.cache) continue
      const repo = `admin/bench-fan-${r + 1}`
      await p.originClient.pushMonolithic(repo, blob)
      await waitQuiet(p.origin.pid, 300, 30_000)
      const c = new RegistryClient(p.cache.url, { credentials: p.cache.credentials, connections: opts.fanClients })
      try {
        await c.authHeaders(repo) // token first, outside the timing (docker holds one before it pulls)
        const io0 = (await readProcIo(p.origin.pid)).wchar
        const t0 = performance.now()
        const results = await Promise.allSettled(
          Array.from({ length: opts.fanClients }, () => c.pull(repo, blob.digest, { expectedSize: blob.size, verify: false })),
        )
        const ms = performance.now() - t0
        const failed = results.filter((x) => x.status === 'rejected')
        await waitQuiet(p.origin.pid, 500, 60_000)
        await waitQuiet(p.cache.pid, 500, 60_000)
        const sent = (await readProcIo(p.origin.pid)).wchar - io0
        if (failed.length) {
          note(`${side} fan-out: ${failed.length} of ${opts.fanClients} GETs failed: ${String((failed[0] as PromiseRejectedResult).reason).slice(0, 300)}`)
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

// ------------------------------------------------------------------------------------------------ 5 manifests

async function manifests(opts: Options, pairs: Record<Side, Pair>): Promise<void> {
  const repo = 'admin/bench-manifest'
  const tag = 'v1'
  const layer = Buffer.from(`wharf bench layer ${'x'.repeat(1000)}`)
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }))
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
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.byteLength }],
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

// ------------------------------------------------------------------------------------------------ 6 memory

async function memory(opts: Options, pairs: Record<Side, Pair>, blob: BlobFile): Promise<void> {
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
        const c = new RegistryClient(server.url, { credentials: server.credentials, connections: opts.memClients })
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

// ------------------------------------------------------------------------------------------------ 7 docker pull

async function dockerPulls(
  opts: Options,
  pairs: Record<Side, Pair>,
  image: DebianImage | undefined,
  imageMissing: string | undefined,
): Promise<void> {
  if (!image) {
    extra.dockerMissing = imageMissing ?? 'no image'
    return
  }
  const up = await dockerClients(note)
  if (!up.ok) {
    extra.dockerMissing = up.reason
    note(`docker pull scenario skipped: ${up.reason}`)
    return
  }
  const configDir = mkdtempSync(join(tmpdir(), 'wharf-bench-docker-'))
  const env = { ...process.env, DOCKER_HOST: up.env.DOCKER_HOST!, DOCKER_CONFIG: configDir }
  const docker = (args: string[], input?: string) =>
    new Promise<string>((resolveRun, reject) => {
      const child = execFile('docker', args, { env, timeout: 10 * 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
        err ? reject(new Error(`docker ${args.join(' ')}: ${stderr || err.message}`)) : resolveRun(stdout),
      )
      child.stdin?.end(input ?? '')
    })
  extra.dockerVersion = await commandVersion('docker', ['--version'])
  const repo = 'admin/debian'
  const tag = image.suite
  const refs: { id: string; side: Side; ref: string }[] = []
  try {
    for (const side of SIDES) {
      const p = pairs[side]
      await importImage(p.originClient, repo, tag, image)
      for (const s of [p.origin, p.cache]) {
        if (!s) continue
        const host = new URL(s.url).host
        if (s.credentials) await docker(['login', '-u', s.credentials.username, '--password-stdin', host], s.credentials.password)
        refs.push({ id: s === p.origin ? 'docker.origin' : 'docker.cache', side, ref: `${host}/${repo}:${tag}` })
      }
    }
    const clean = async () => {
      // every ref names the same image: remove them all, or the next pull finds its layer already there
      for (const r of refs) await docker(['rmi', '-f', r.ref]).catch(() => undefined)
    }
    // warm-up: one pull of each ref (this also warms the caches), not counted
    for (const r of refs) {
      await clean()
      await docker(['pull', '-q', r.ref])
    }
    for (const side of SIDES) {
      const p = pairs[side]
      await waitQuiet(p.origin.pid, 500, 60_000)
      if (p.cache) await waitQuiet(p.cache.pid, 500, 60_000)
    }
    for (let r = 0; r < opts.dockerRounds; r++) {
      for (const side of sortedSides(r)) {
        for (const ref of refs.filter((x) => x.side === side)) {
          await clean()
          const t0 = performance.now()
          await docker(['pull', '-q', ref.ref])
          const s = (performance.now() - t0) / 1000
          record(ref.id, side, s)
          note(`${side} docker pull ${ref.ref}: ${round(s, 2)} s`)
        }
      }
    }
    await clean()
  } catch (err) {
    extra.dockerError = (err as Error).message.slice(0, 500)
    note(`docker pull scenario failed: ${(err as Error).message.slice(0, 500)}`)
  } finally {
    rmSync(configDir, { recursive: true, force: true })
  }
  extra.dockerImage = { layer: image.layer.digest, layerBytes: image.layer.size, rootfsBytes: image.rootfsBytes }
}

// ------------------------------------------------------------------------------------------------ rows

interface RowSpec {
  id: string
  group: string
  what: string
  unit: string
  better: Better
  digits?: number
  /** Only Wharf has a figure (machine limits). */
  single?: boolean
  cache?: boolean
  target?: (w: Summary | undefined, d: Summary | undefined, ratio: number) => { text: string; met: boolean | null }
}

function buildRows(opts: Options): void {
  const cacheMissing = cacheNodeAvailable() ? 'cache node failed' : 'cache node not built'
  const med = (id: string, side: Side) => summarize(samples[id]?.[side] ?? [], 2).median
  const atLeast = (r: number, x: number) => (Number.isFinite(r) ? r >= x : null)
  const push = opts.pushSize
  const specs: RowSpec[] = [
    { id: 'limit.sha256.node', group: '8 limits', what: 'sha256 of a file, Node, 1 MiB reads', unit: 'MB/s', better: 'higher', single: true },
    { id: 'limit.sha256.openssl', group: '8 limits', what: '`openssl dgst -sha256` of the same file (process included)', unit: 'MB/s', better: 'higher', single: true },
    { id: 'limit.disk.write', group: '8 limits', what: 'write a file (1 MiB writes) and fsync it, same disk as the blobs', unit: 'MB/s', better: 'higher', single: true },
    { id: 'limit.loopback.mem', group: '8 limits', what: 'loopback HTTP, node:http from memory → undici', unit: 'MB/s', better: 'higher', single: true },
    { id: 'limit.loopback.file', group: '8 limits', what: 'loopback HTTP, file stream (1 MiB reads) → undici', unit: 'MB/s', better: 'higher', single: true },
    {
      id: 'push.monolithic', group: '1 push', what: `monolithic push ${formatSize(push)} (POST + PUT)`, unit: 'MB/s', better: 'higher',
      target: (_w, _d, r) => ({ text: '≥ 3×', met: atLeast(r, 3) }),
    },
    {
      id: 'push.streamed', group: '1 push', what: `streamed push ${formatSize(push)} (POST + chunked PATCH + PUT)`, unit: 'MB/s', better: 'higher',
      target: (_w, _d, r) => ({ text: '≥ 3×', met: atLeast(r, 3) }),
    },
    { id: 'get.origin', group: '2 origin GET', what: `blob GET from the origin, ${formatSize(push)}`, unit: 'MB/s', better: 'higher' },
    {
      id: 'cache.cold', group: '3 cache', what: `cold GET through the cache/proxy, ${formatSize(push)}`, unit: 'MB/s', better: 'higher', cache: true,
      target: (w) => {
        const direct = med('get.origin', 'wharf')
        const r = w ? ratio(w.median, direct) : Number.NaN
        return { text: `≥ 0.9× Wharf's direct origin GET (now ${Number.isFinite(r) ? `${r}×` : 'n/a'})`, met: atLeast(r, 0.9) }
      },
    },
    { id: 'cache.cold.originBytes', group: '3 cache', what: 'origin bytes sent per cold GET, × blob (wchar)', unit: '×', better: 'lower', cache: true },
    {
      id: 'cache.warm', group: '3 cache', what: `warm GET through the cache/proxy, ${formatSize(push)}`, unit: 'MB/s', better: 'higher', cache: true,
      target: (_w, _d, r) => ({ text: '≥ 1.0×', met: atLeast(r, 1) }),
    },
    {
      id: 'fan.seconds', group: '4 fan-out', what: `${opts.fanClients} concurrent cold GETs of one ${formatSize(opts.fanSize)} blob: total`, unit: 's', better: 'lower', cache: true,
      target: (_w, _d, r) => ({ text: '≤ 0.5×', met: Number.isFinite(r) ? r <= 0.5 : null }),
    },
    {
      id: 'fan.originBytes', group: '4 fan-out', what: `bytes the origin sent for those ${opts.fanClients}, × blob`, unit: '×', better: 'lower', cache: true,
      target: (w) => ({ text: 'Wharf = 1.00× the blob', met: w && w.n > 0 ? w.max <= 1.01 : null }),
    },
    { id: 'fan.aggregate', group: '4 fan-out', what: 'aggregate to the clients', unit: 'MB/s', better: 'higher', cache: true },
    {
      id: 'manifest.cache.tag', group: '5 manifests', what: 'manifest GET by tag through the warm cache/proxy', unit: 'req/s', better: 'higher', cache: true,
      target: (_w, _d, r) => ({ text: '≥ 10×', met: atLeast(r, 10) }),
    },
    {
      id: 'manifest.cache.digest', group: '5 manifests', what: 'manifest GET by digest through the warm cache/proxy', unit: 'req/s', better: 'higher', cache: true,
      target: (_w, _d, r) => ({ text: '≥ 3×', met: atLeast(r, 3) }),
    },
    { id: 'manifest.origin.tag', group: '5 manifests', what: 'manifest GET by tag from the origin', unit: 'req/s', better: 'higher' },
    { id: 'manifest.origin.digest', group: '5 manifests', what: 'manifest GET by digest from the origin', unit: 'req/s', better: 'higher' },
    {
      id: 'memory.origin', group: '6 memory', what: `peak RSS of the origin serving ${opts.memClients} concurrent ${formatSize(opts.memSize)} GETs`, unit: 'MB', better: 'lower',
      target: (w) => ({ text: 'Wharf ≤ 150 MB', met: w && w.n > 0 ? w.max <= 150 : null }),
    },
    { id: 'memory.origin.start', group: '6 memory', what: '… its RSS just before those GETs', unit: 'MB', better: 'lower' },
    { id: 'memory.origin.aggregate', group: '6 memory', what: '… aggregate throughput of those GETs', unit: 'MB/s', better: 'higher' },
    { id: 'memory.origin.cpu', group: '6 memory', what: '… server CPU seconds for those GETs', unit: 's', better: 'lower' },
    {
      id: 'memory.cache', group: '6 memory', what: `peak RSS of the warm cache/proxy serving ${opts.memClients} concurrent ${formatSize(opts.memSize)} GETs`, unit: 'MB', better: 'lower', cache: true,
      target: (w) => ({ text: 'Wharf ≤ 150 MB', met: w && w.n > 0 ? w.max <= 150 : null }),
    },
    { id: 'memory.cache.start', group: '6 memory', what: '… its RSS just before those GETs', unit: 'MB', better: 'lower', cache: true },
    { id: 'memory.cache.aggregate', group: '6 memory', what: '… aggregate throughput of those GETs', unit: 'MB/s', better: 'higher', cache: true },
    { id: 'memory.cache.cpu', group: '6 memory', what: '… server CPU seconds for those GETs', unit: 's', better: 'lower', cache: true },
    { id: 'docker.origin', group: '7 docker pull', what: 'docker pull of Debian bookworm (mmdebstrap minbase) from the origin', unit: 's', better: 'lower' },
    { id: 'docker.cache', group: '7 docker pull', what: '… through the warm cache/proxy', unit: 's', better: 'lower', cache: true },
  ]
  for (const s of specs) {
    const digits = s.unit === 'MB/s' || s.unit === 'req/s' ? 0 : 2
    const get = (side: Side) => {
      const xs = samples[s.id]?.[side]
      return xs && xs.length ? summarize(xs, s.digits ?? digits) : undefined
    }
    const w = get('wharf')
    const d = s.single ? undefined : get('distribution')
    const missing: Partial<Record<Side, string>> = {}
    if (!w && s.cache && !cacheNodeAvailable()) missing.wharf = cacheMissing
    if (s.id.startsWith('docker.') && extra.dockerMissing) {
      missing.wharf = missing.wharf ?? String(extra.dockerMissing)
      missing.distribution = String(extra.dockerMissing)
    }
    const r = w && d ? ratio(w.median, d.median) : Number.NaN
    const row: Row = { id: s.id, group: s.group, what: s.what, unit: s.unit, better: s.better }
    if (w) row.wharf = w
    if (d) row.distribution = d
    if (Object.keys(missing).length) row.missing = missing
    if (Number.isFinite(r)) row.ratio = r
    if (s.target) row.target = s.target(w, d, r)
    if (w || d || row.missing) rows.push(row)
  }
}

function renderTable(): string {
  const cell = (s: Summary | undefined, why: string | undefined) => (s ? formatSummary(s) : why ?? '–')
  const body = rows.map((r) => [
    r.group,
    r.what,
    r.unit,
    cell(r.wharf, r.missing?.wharf),
    r.id.startsWith('limit.') ? '(machine)' : cell(r.distribution, r.missing?.distribution),
    r.ratio !== undefined ? `${r.ratio}×` : '–',
    r.target?.text ?? '',
    r.target ? (r.target.met === null ? 'n/a' : r.target.met ? 'met' : '**missed**') : '',
  ])
  return markdownTable(['#', 'measurement', 'unit', 'Wharf', 'Distribution 2.8.2', 'Wharf/Dist.', 'target', 'met?'], body)
}

async function updateReadme(markdown: string): Promise<void> {
  const path = join(REPO_ROOT, 'README.md')
  const text = await readFile(path, 'utf8')
  const start = '<!-- bench:latest -->'
  const end = '<!-- /bench:latest -->'
  const i = text.indexOf(start)
  const j = text.indexOf(end)
  if (i < 0 || j < i) {
    note(`README.md has no ${start} … ${end} block; not updated`)
    return
  }
  await writeFile(path, `${text.slice(0, i + start.length)}\n${markdown}${text.slice(j)}`)
  note('README.md: latest table updated')
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  process.exitCode = 1
})
