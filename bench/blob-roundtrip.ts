/**
 * Blob round trip: push one large random blob the way docker does (POST, one chunked PATCH, PUT ?digest=) and pull
 * it back (GET, hashed), against Wharf's origin and CNCF distribution 2.8.2 in the same run with the same file.
 * The servers' RSS is sampled during each transfer. Rounds alternate which server goes first.
 *
 *   npm run bench:roundtrip -- [--size 1GiB] [--rounds 3] [--warmup 1] [--targets wharf,distribution]
 *                              [--fsync true] [--push streamed|monolithic] [--verify-pull true] [--sample-ms 100]
 *                              [--out result.json] [--keep] [--reuse-blob]
 *                              [--wharf-node-args="--cpu-prof --cpu-prof-dir=/tmp/prof"]
 *
 * stdout: the JSON result, then a Markdown table. stderr: progress. MB = 10^6 bytes everywhere.
 * Each round pushes its own random file (cached in bench/.cache/, (warmup + rounds) × size; --reuse-blob uses one),
 * so no push is a re-push of a stored digest. Each server's temporary folder holds (warmup + rounds) × size during the
 * run and is removed at the end.
 */
import { writeFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { ensureRandomBlob, type BlobFile } from './lib/blob-file.ts'
import { readProcMemory, withRssSampling, type RssReport } from './lib/proc.ts'
import { BenchClient, type PullTiming, type PushTiming } from './lib/registry-client.ts'
import { machineInfo, markdownTable, note } from './lib/report.ts'
import { startDistribution, startWharfOrigin, type BenchServer } from './lib/servers.ts'
import { formatSummary, ratio, runRounds, summarize, type Summary } from './lib/stats.ts'
import { MB, formatSize, mbPerSecond, parseSize, round } from './lib/units.ts'

const TARGETS = ['wharf', 'distribution'] as const
type Target = (typeof TARGETS)[number]

interface Options {
  size: number
  rounds: number
  warmup: number
  targets: Target[]
  fsync: boolean
  push: 'streamed' | 'monolithic'
  sampleMs: number
  settleMs: number
  verifyPull: boolean
  reuseBlob: boolean
  out?: string
  keep: boolean
  wharfNodeArgs: string[]
}

interface PhaseRecord {
  mbps: number
  seconds: number
  rss: RssReport
  /** CPU seconds this benchmark process (the client) used: near the wall time means the client was the limit. */
  clientCpuSeconds: number
}

interface RoundRecord {
  target: Target
  round: string
  warmup: boolean
  repo: string
  push: PhaseRecord & { timing: PushTiming }
  pull: PhaseRecord & { timing: PullTiming }
}

interface PhaseSummary {
  mbps: Summary
  seconds: Summary
  /** Peak RSS of each counted round: median (min–max). The max is the figure to quote as "peak". */
  peakRssMB: Summary
  /** Peak RSS minus the RSS at the start of the phase. */
  growthMB: Summary
  /** Server CPU seconds (user + system) per transfer. */
  cpuSeconds: Summary
  clientCpuSeconds: Summary
}

interface TargetResult {
  label: string
  kind: string
  version: string
  settings: Record<string, string | number | boolean>
  /** VmRSS after start-up and one /v2/ request, before any transfer. */
  baselineRssMB: number
  push: PhaseSummary & { patchSeconds?: Summary; putSeconds: Summary }
  pull: PhaseSummary & { headersSeconds: Summary }
  /** Highest peak over the counted rounds' pushes and pulls. */
  peakRssMB: number
  /** VmRSS once every round is done. */
  endRssMB: number
  /** VmHWM at the end: the process's lifetime peak, warm-up included (not reset: the sampler resets it per phase). */
  lastHwmMB: number
}

function usage(): string {
  return `usage: npm run bench:roundtrip -- [--size 1GiB] [--rounds 3] [--warmup 1] [--targets wharf,distribution]
    [--fsync true|false] [--push streamed|monolithic] [--verify-pull true|false] [--sample-ms 100] [--settle-ms 500]
    [--out FILE] [--keep] [--reuse-blob]
    [--wharf-node-args="ARGS"]`
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      size: { type: 'string', default: '1GiB' },
      rounds: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '1' },
      targets: { type: 'string', default: TARGETS.join(',') },
      fsync: { type: 'string', default: 'true' },
      push: { type: 'string', default: 'streamed' },
      'sample-ms': { type: 'string', default: '100' },
      'settle-ms': { type: 'string', default: '500' },
      'verify-pull': { type: 'string', default: 'true' },
      out: { type: 'string' },
      keep: { type: 'boolean', default: false },
      'reuse-blob': { type: 'boolean', default: false },
      'wharf-node-args': { type: 'string', default: '' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    console.log(usage())
    process.exit(0)
  }
  const int = (name: string, text: string, min: number): number => {
    const n = Number(text)
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got "${text}"`)
    return n
  }
  const targets = values.targets.split(',').map((t) => t.trim())
  for (const t of targets) {
    if (!(TARGETS as readonly string[]).includes(t))
      throw new Error(`--targets: unknown "${t}" (${TARGETS.join(', ')})`)
  }
  if (!['true', 'false'].includes(values.fsync)) throw new Error(`--fsync must be true or false`)
  if (!['true', 'false'].includes(values['verify-pull'])) throw new Error(`--verify-pull must be true or false`)
  if (values.push !== 'streamed' && values.push !== 'monolithic')
    throw new Error(`--push must be streamed or monolithic`)
  return {
    size: parseSize(values.size),
    rounds: int('rounds', values.rounds, 1),
    warmup: int('warmup', values.warmup, 0),
    targets: [...new Set(targets)] as Target[],
    fsync: values.fsync === 'true',
    push: values.push,
    sampleMs: int('sample-ms', values['sample-ms'], 10),
    settleMs: int('settle-ms', values['settle-ms'], 0),
    verifyPull: values['verify-pull'] === 'true',
    out: values.out,
    keep: values.keep,
    reuseBlob: values['reuse-blob'],
    wharfNodeArgs: values['wharf-node-args'].split(/\s+/).filter(Boolean),
  }
}

async function startTarget(target: Target, opts: Options): Promise<BenchServer> {
  return target === 'wharf'
    ? startWharfOrigin({ fsync: opts.fsync, keep: opts.keep, nodeArgs: opts.wharfNodeArgs })
    : startDistribution({ keep: opts.keep })
}

async function roundTrip(
  server: BenchServer,
  client: BenchClient,
  target: Target,
  blob: BlobFile,
  repo: string,
  opts: Options,
): Promise<Omit<RoundRecord, 'round' | 'warmup'>> {
  const sampling = { intervalMs: opts.sampleMs }
  await sleep(opts.settleMs)
  const push = await clientCpu(() =>
    withRssSampling(
      server.pid,
      () => (opts.push === 'streamed' ? client.pushStreamed(repo, blob) : client.pushMonolithic(repo, blob)),
      sampling,
    ),
  )
  await sleep(opts.settleMs)
  const pull = await clientCpu(() =>
    withRssSampling(
      server.pid,
      () => client.pull(repo, blob.digest, { expectedSize: blob.size, verify: opts.verifyPull }),
      sampling,
    ),
  )
  const phase = <T extends { ms: number }>(p: { value: { value: T; rss: RssReport }; cpuSeconds: number }) => ({
    mbps: mbPerSecond(blob.size, p.value.value.ms),
    seconds: p.value.value.ms / 1000,
    rss: p.value.rss,
    clientCpuSeconds: p.cpuSeconds,
    timing: p.value.value,
  })
  return { target, repo, push: phase(push), pull: phase(pull) }
}

/** CPU seconds (user + system) of this process while `fn` runs. */
async function clientCpu<T>(fn: () => Promise<T>): Promise<{ value: T; cpuSeconds: number }> {
  const c0 = process.cpuUsage()
  const value = await fn()
  const c = process.cpuUsage(c0)
  return { value, cpuSeconds: round((c.user + c.system) / 1e6, 2) }
}

function summarizePhase(records: PhaseRecord[]): PhaseSummary {
  return {
    mbps: summarize(
      records.map((r) => r.mbps),
      0,
    ),
    seconds: summarize(
      records.map((r) => r.seconds),
      2,
    ),
    peakRssMB: summarize(records.map((r) => r.rss.peakRssMB)),
    growthMB: summarize(records.map((r) => r.rss.peakRssMB - r.rss.startRssMB)),
    cpuSeconds: summarize(
      records.map((r) => r.rss.cpuSeconds),
      2,
    ),
    clientCpuSeconds: summarize(
      records.map((r) => r.clientCpuSeconds),
      2,
    ),
  }
}

function describeRound(r: RoundRecord): string {
  const p = r.push
  const g = r.pull
  return (
    `${r.target} ${r.round}: push ${round(p.mbps, 0)} MB/s (${round(p.seconds, 2)} s, peak RSS ${p.rss.peakRssMB} MB, ` +
    `cpu ${p.rss.cpuSeconds} s, client cpu ${p.clientCpuSeconds} s), pull ${round(g.mbps, 0)} MB/s (${round(g.seconds, 2)} s, peak RSS ${g.rss.peakRssMB} MB, ` +
    `cpu ${g.rss.cpuSeconds} s, client cpu ${g.clientCpuSeconds} s)`
  )
}

function markdown(result: { params: { size: string }; targets: Partial<Record<Target, TargetResult>> }): string {
  const cols = TARGETS.filter((t) => result.targets[t])
  const both = cols.length === 2
  const header = ['', ...cols.map((t) => result.targets[t]!.label), ...(both ? ['Wharf/Distribution'] : [])]
  const row = (
    label: string,
    pick: (t: TargetResult) => number,
    show: (t: TargetResult) => string = (t) => String(pick(t)),
  ) => [
    label,
    ...cols.map((c) => show(result.targets[c]!)),
    ...(both ? [String(ratio(pick(result.targets.wharf!), pick(result.targets.distribution!)))] : []),
  ]
  const rows = [
    row(
      'push MB/s, median (min–max)',
      (t) => t.push.mbps.median,
      (t) => formatSummary(t.push.mbps),
    ),
    row(
      'pull MB/s, median (min–max)',
      (t) => t.pull.mbps.median,
      (t) => formatSummary(t.pull.mbps),
    ),
    row('peak RSS during push, MB (max over rounds)', (t) => t.push.peakRssMB.max),
    row('peak RSS during pull, MB (max over rounds)', (t) => t.pull.peakRssMB.max),
    row('baseline RSS before transfers, MB', (t) => t.baselineRssMB),
    row('server CPU s per push (median)', (t) => t.push.cpuSeconds.median),
    row('server CPU s per pull (median)', (t) => t.pull.cpuSeconds.median),
    row('client CPU s per push (median)', (t) => t.push.clientCpuSeconds.median),
    row('client CPU s per pull (median)', (t) => t.pull.clientCpuSeconds.median),
  ]
  return `Blob round trip, ${result.params.size} (MB = 10^6 bytes)\n\n${markdownTable(header, rows)}`
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2))
  const startedAt = new Date().toISOString()
  const machine = machineInfo()
  note(
    `blob round trip: ${formatSize(opts.size)}, ${opts.warmup} warm-up + ${opts.rounds} rounds, targets ${opts.targets.join(', ')}`,
  )
  // one file per round, used by every target in that round: a stored digest is never pushed again, which would
  // measure a re-push (the server replaces or discards a whole second copy at commit) instead of a first push
  const blobs: BlobFile[] = []
  for (let i = 0; i < (opts.reuseBlob ? 1 : opts.warmup + opts.rounds); i++) {
    const blob = await ensureRandomBlob(opts.size, { name: `random-${i + 1}`, log: note })
    note(`blob ${i + 1}: ${blob.digest} at ${blob.path}`)
    blobs.push(blob)
  }

  const servers = new Map<Target, BenchServer>()
  const clients = new Map<Target, BenchClient>()
  const stopAll = async () => {
    await Promise.all([...clients.values()].map((c) => c.close().catch(() => undefined)))
    await Promise.all([...servers.values()].map((s) => s.stop().catch(() => undefined)))
  }
  const onSignal = (signal: NodeJS.Signals) => {
    note(`${signal}: stopping servers`)
    void stopAll().finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)

  try {
    const baseline = new Map<Target, number>()
    for (const target of opts.targets) {
      const server = await startTarget(target, opts)
      servers.set(target, server)
      const client = new BenchClient(server.url, { credentials: server.credentials })
      clients.set(target, client)
      await client.ping() // 200, or 401 with a token challenge; anything else throws
      note(`${server.label} (${server.version}) pid ${server.pid} on ${server.url}, work dir ${server.workDir}`)
    }
    await sleep(1000)
    for (const [target, server] of servers) baseline.set(target, round((await readProcMemory(server.pid)).rss / MB))

    const all: RoundRecord[] = []
    await runRounds({ warmup: opts.warmup, rounds: opts.rounds }, async (r) => {
      // alternate the order so drift (page cache, other load) does not always favour the same server
      const order = r.index % 2 === 0 ? opts.targets : [...opts.targets].reverse()
      for (const target of order) {
        const rec: RoundRecord = {
          ...(await roundTrip(
            servers.get(target)!,
            clients.get(target)!,
            target,
            blobs[r.index % blobs.length]!,
            `bench/roundtrip-${r.index}`,
            opts,
          )),
          round: r.label,
          warmup: r.warmup,
        }
        all.push(rec)
        note(describeRound(rec))
      }
    })

    const targets: Partial<Record<Target, TargetResult>> = {}
    for (const [target, server] of servers) {
      const counted = all.filter((r) => r.target === target && !r.warmup)
      const push = summarizePhase(counted.map((r) => r.push))
      const pull = summarizePhase(counted.map((r) => r.pull))
      const end = await readProcMemory(server.pid)
      const patchMs = counted.map((r) => r.push.timing.patchMs).filter((x): x is number => x !== undefined)
      targets[target] = {
        label: server.label,
        kind: server.kind,
        version: server.version,
        settings: server.settings,
        baselineRssMB: baseline.get(target)!,
        push: {
          ...push,
          ...(patchMs.length
            ? {
                patchSeconds: summarize(
                  patchMs.map((ms) => ms / 1000),
                  2,
                ),
              }
            : {}),
          putSeconds: summarize(
            counted.map((r) => r.push.timing.putMs / 1000),
            2,
          ),
        },
        pull: {
          ...pull,
          headersSeconds: summarize(
            counted.map((r) => r.pull.timing.headersMs / 1000),
            3,
          ),
        },
        peakRssMB: Math.max(push.peakRssMB.max, pull.peakRssMB.max),
        endRssMB: round(end.rss / MB),
        lastHwmMB: round(end.hwm / MB),
      }
    }
    const w = targets.wharf
    const d = targets.distribution
    const result = {
      benchmark: 'blob-roundtrip',
      schema: 1,
      startedAt,
      finishedAt: new Date().toISOString(),
      machine,
      loadavgAtEnd: machineInfo().loadavg,
      params: {
        size: formatSize(opts.size),
        sizeBytes: opts.size,
        digests: blobs.map((b) => b.digest),
        reuseBlob: opts.reuseBlob,
        pushMethod: opts.push,
        rounds: opts.rounds,
        warmup: opts.warmup,
        fsync: opts.fsync,
        sampleMs: opts.sampleMs,
        pullVerified: opts.verifyPull,
        units: 'MB = 10^6 bytes; RSS from /proc/PID/status (VmRSS polled, VmHWM reset per phase)',
      },
      targets,
      ...(w && d
        ? {
            ratiosWharfOverDistribution: {
              pushMBps: ratio(w.push.mbps.median, d.push.mbps.median),
              pullMBps: ratio(w.pull.mbps.median, d.pull.mbps.median),
              pushPeakRss: ratio(w.push.peakRssMB.max, d.push.peakRssMB.max),
              pullPeakRss: ratio(w.pull.peakRssMB.max, d.pull.peakRssMB.max),
              baselineRss: ratio(w.baselineRssMB, d.baselineRssMB),
              pushCpuSeconds: ratio(w.push.cpuSeconds.median, d.push.cpuSeconds.median),
              pullCpuSeconds: ratio(w.pull.cpuSeconds.median, d.pull.cpuSeconds.median),
            },
          }
        : {}),
      rounds: all.map((r) => ({
        target: r.target,
        round: r.round,
        warmup: r.warmup,
        push: {
          mbps: round(r.push.mbps, 0),
          ...roundTiming(r.push.timing),
          clientCpuSeconds: r.push.clientCpuSeconds,
          rss: r.push.rss,
        },
        pull: {
          mbps: round(r.pull.mbps, 0),
          ...roundTiming(r.pull.timing),
          clientCpuSeconds: r.pull.clientCpuSeconds,
          rss: r.pull.rss,
        },
      })),
    }
    const json = JSON.stringify(result, null, 2)
    if (opts.out) {
      await writeFile(opts.out, `${json}\n`)
      note(`result written to ${opts.out}`)
    }
    console.log(json)
    console.log()
    console.log(markdown(result))
  } finally {
    await stopAll()
  }
}

/** Millisecond fields rounded for the JSON. */
function roundTiming(t: PushTiming | PullTiming): Record<string, number | string> {
  return Object.fromEntries(
    Object.entries(t).map(([k, v]) => [k, typeof v === 'number' && (k === 'ms' || k.endsWith('Ms')) ? round(v, 1) : v]),
  )
}

main().catch((err: unknown) => {
  console.error(`bench:roundtrip failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  process.exitCode = 1
})
