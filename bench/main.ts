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
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ensureRandomBlob, type BlobFile } from './lib/blob-file.ts'
import { ensureDebianImage, type DebianImage } from './lib/debian-image.ts'
import { wrkAvailable } from './lib/load.ts'
import { BenchClient } from './lib/registry-client.ts'
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
import { ensureCommands, which } from './lib/tools.ts'
import { formatSize, parseSize, round } from './lib/units.ts'
import { SCENARIOS, type Scenario, type Side, type Options, type Pair, samples, extra } from './scenarios/context.ts'
import { machineLimits } from './scenarios/limits.ts'
import { pushGetCache } from './scenarios/push-get-cache.ts'
import { fanOut } from './scenarios/fan-out.ts'
import { manifests } from './scenarios/manifests.ts'
import { memory } from './scenarios/memory.ts'
import { dockerPulls } from './scenarios/docker.ts'

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
    if (!(SCENARIOS as readonly string[]).includes(s))
      throw new Error(`--only: unknown "${s}" (${SCENARIOS.join(', ')})`)
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

// ------------------------------------------------------------------------------------------------ main

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
  if (!which('docker-registry'))
    throw new Error('docker-registry (Distribution 2.8.2) is missing: apt-get install -y docker-registry')

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
  const clients: BenchClient[] = []
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
    const c = new BenchClient(s.url, { credentials: s.credentials, connections })
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
    extra.servers = servers.map((s) => ({
      label: s.label,
      kind: s.kind,
      url: s.url,
      version: s.version,
      settings: s.settings,
    }))

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
    {
      id: 'limit.sha256.node',
      group: '8 limits',
      what: 'sha256 of a file, Node, 1 MiB reads',
      unit: 'MB/s',
      better: 'higher',
      single: true,
    },
    {
      id: 'limit.sha256.openssl',
      group: '8 limits',
      what: '`openssl dgst -sha256` of the same file (process included)',
      unit: 'MB/s',
      better: 'higher',
      single: true,
    },
    {
      id: 'limit.disk.write',
      group: '8 limits',
      what: 'write a file (1 MiB writes) and fsync it, same disk as the blobs',
      unit: 'MB/s',
      better: 'higher',
      single: true,
    },
    {
      id: 'limit.loopback.mem',
      group: '8 limits',
      what: 'loopback HTTP, node:http from memory → undici',
      unit: 'MB/s',
      better: 'higher',
      single: true,
    },
    {
      id: 'limit.loopback.file',
      group: '8 limits',
      what: 'loopback HTTP, file stream (1 MiB reads) → undici',
      unit: 'MB/s',
      better: 'higher',
      single: true,
    },
    {
      id: 'push.monolithic',
      group: '1 push',
      what: `monolithic push ${formatSize(push)} (POST + PUT)`,
      unit: 'MB/s',
      better: 'higher',
      target: (_w, _d, r) => ({ text: '≥ 3×', met: atLeast(r, 3) }),
    },
    {
      id: 'push.streamed',
      group: '1 push',
      what: `streamed push ${formatSize(push)} (POST + chunked PATCH + PUT)`,
      unit: 'MB/s',
      better: 'higher',
      target: (_w, _d, r) => ({ text: '≥ 3×', met: atLeast(r, 3) }),
    },
    {
      id: 'get.origin',
      group: '2 origin GET',
      what: `blob GET from the origin, ${formatSize(push)}`,
      unit: 'MB/s',
      better: 'higher',
    },
    {
      id: 'cache.cold',
      group: '3 cache',
      what: `cold GET through the cache/proxy, ${formatSize(push)}`,
      unit: 'MB/s',
      better: 'higher',
      cache: true,
      target: (w) => {
        const direct = med('get.origin', 'wharf')
        const r = w ? ratio(w.median, direct) : Number.NaN
        return {
          text: `≥ 0.9× Wharf's direct origin GET (now ${Number.isFinite(r) ? `${r}×` : 'n/a'})`,
          met: atLeast(r, 0.9),
        }
      },
    },
    {
      id: 'cache.cold.originBytes',
      group: '3 cache',
      what: 'origin bytes sent per cold GET, × blob (wchar)',
      unit: '×',
      better: 'lower',
      cache: true,
    },
    {
      id: 'cache.warm',
      group: '3 cache',
      what: `warm GET through the cache/proxy, ${formatSize(push)}`,
      unit: 'MB/s',
      better: 'higher',
      cache: true,
      target: (_w, _d, r) => ({ text: '≥ 1.0×', met: atLeast(r, 1) }),
    },
    {
      id: 'fan.seconds',
      group: '4 fan-out',
      what: `${opts.fanClients} concurrent cold GETs of one ${formatSize(opts.fanSize)} blob: total`,
      unit: 's',
      better: 'lower',
      cache: true,
      target: (_w, _d, r) => ({ text: '≤ 0.5×', met: Number.isFinite(r) ? r <= 0.5 : null }),
    },
    {
      id: 'fan.originBytes',
      group: '4 fan-out',
      what: `bytes the origin sent for those ${opts.fanClients}, × blob`,
      unit: '×',
      better: 'lower',
      cache: true,
      target: (w) => ({ text: 'Wharf = 1.00× the blob', met: w && w.n > 0 ? w.max <= 1.01 : null }),
    },
    {
      id: 'fan.aggregate',
      group: '4 fan-out',
      what: 'aggregate to the clients',
      unit: 'MB/s',
      better: 'higher',
      cache: true,
    },
    {
      id: 'manifest.cache.tag',
      group: '5 manifests',
      what: 'manifest GET by tag through the warm cache/proxy',
      unit: 'req/s',
      better: 'higher',
      cache: true,
      target: (_w, _d, r) => ({ text: '≥ 10×', met: atLeast(r, 10) }),
    },
    {
      id: 'manifest.cache.digest',
      group: '5 manifests',
      what: 'manifest GET by digest through the warm cache/proxy',
      unit: 'req/s',
      better: 'higher',
      cache: true,
      target: (_w, _d, r) => ({ text: '≥ 3×', met: atLeast(r, 3) }),
    },
    {
      id: 'manifest.origin.tag',
      group: '5 manifests',
      what: 'manifest GET by tag from the origin',
      unit: 'req/s',
      better: 'higher',
    },
    {
      id: 'manifest.origin.digest',
      group: '5 manifests',
      what: 'manifest GET by digest from the origin',
      unit: 'req/s',
      better: 'higher',
    },
    {
      id: 'memory.origin',
      group: '6 memory',
      what: `peak RSS of the origin serving ${opts.memClients} concurrent ${formatSize(opts.memSize)} GETs`,
      unit: 'MB',
      better: 'lower',
      target: (w) => ({ text: 'Wharf ≤ 150 MB', met: w && w.n > 0 ? w.max <= 150 : null }),
    },
    {
      id: 'memory.origin.start',
      group: '6 memory',
      what: '… its RSS just before those GETs',
      unit: 'MB',
      better: 'lower',
    },
    {
      id: 'memory.origin.aggregate',
      group: '6 memory',
      what: '… aggregate throughput of those GETs',
      unit: 'MB/s',
      better: 'higher',
    },
    {
      id: 'memory.origin.cpu',
      group: '6 memory',
      what: '… server CPU seconds for those GETs',
      unit: 's',
      better: 'lower',
    },
    {
      id: 'memory.cache',
      group: '6 memory',
      what: `peak RSS of the warm cache/proxy serving ${opts.memClients} concurrent ${formatSize(opts.memSize)} GETs`,
      unit: 'MB',
      better: 'lower',
      cache: true,
      target: (w) => ({ text: 'Wharf ≤ 150 MB', met: w && w.n > 0 ? w.max <= 150 : null }),
    },
    {
      id: 'memory.cache.start',
      group: '6 memory',
      what: '… its RSS just before those GETs',
      unit: 'MB',
      better: 'lower',
      cache: true,
    },
    {
      id: 'memory.cache.aggregate',
      group: '6 memory',
      what: '… aggregate throughput of those GETs',
      unit: 'MB/s',
      better: 'higher',
      cache: true,
    },
    {
      id: 'memory.cache.cpu',
      group: '6 memory',
      what: '… server CPU seconds for those GETs',
      unit: 's',
      better: 'lower',
      cache: true,
    },
    {
      id: 'docker.origin',
      group: '7 docker pull',
      what: 'docker pull of Debian bookworm (mmdebstrap minbase) from the origin',
      unit: 's',
      better: 'lower',
    },
    {
      id: 'docker.cache',
      group: '7 docker pull',
      what: '… through the warm cache/proxy',
      unit: 's',
      better: 'lower',
      cache: true,
    },
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
  const cell = (s: Summary | undefined, why: string | undefined) => (s ? formatSummary(s) : (why ?? '–'))
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
  return markdownTable(
    ['#', 'measurement', 'unit', 'Wharf', 'Distribution 2.8.2', 'Wharf/Dist.', 'target', 'met?'],
    body,
  )
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
