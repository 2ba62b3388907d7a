/**
 * Request-rate load for small GETs (manifests): wrk when installed (`wrk -t2 -cC -dDs --latency`, as the anchors
 * measured the peer), otherwise an undici load generator with the same shape (C connections, D seconds, every
 * response read in full). Both report requests/s over 2xx answers only, p50/p99 latency and non-2xx answers.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { Pool } from 'undici'
import { which } from './tools.ts'

const run = promisify(execFile)

export interface LoadResult {
  tool: 'wrk' | 'undici'
  requestsPerSecond: number
  p50Ms: number
  p99Ms: number
  requests: number
  non2xx: number
  errors: number
}

export interface LoadOptions {
  connections: number
  seconds: number
  threads?: number
  headers: Record<string, string>
  /** Force the undici generator even when wrk exists. */
  undici?: boolean
}

export function wrkAvailable(): boolean {
  return which('wrk') !== undefined
}

export async function loadGet(url: string, opts: LoadOptions): Promise<LoadResult> {
  return !opts.undici && wrkAvailable() ? wrkGet(url, opts) : undiciGet(url, opts)
}

async function wrkGet(url: string, opts: LoadOptions): Promise<LoadResult> {
  const args = [
    `-t${opts.threads ?? 2}`,
    `-c${opts.connections}`,
    `-d${opts.seconds}s`,
    '--timeout',
    '5s',
    '--latency',
    ...Object.entries(opts.headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
    url,
  ]
  const { stdout } = await run('wrk', args, { timeout: (opts.seconds + 30) * 1000, maxBuffer: 1 << 20 })
  const num = (re: RegExp): number => Number(re.exec(stdout)?.[1] ?? Number.NaN)
  const requests = num(/(\d+) requests in/)
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? 0)
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout)
  const errors = errs ? errs.slice(1).reduce((a, b) => a + Number(b), 0) : 0
  const rps = num(/Requests\/sec:\s+([\d.]+)/)
  // wrk counts non-2xx answers in Requests/sec: keep only the good ones
  const good = requests > 0 ? rps * ((requests - non2xx) / requests) : rps
  return {
    tool: 'wrk',
    requestsPerSecond: good,
    p50Ms: latencyMs(/^\s+50%\s+([\d.]+)(us|ms|s)\s*$/m.exec(stdout)),
    p99Ms: latencyMs(/^\s+99%\s+([\d.]+)(us|ms|s)\s*$/m.exec(stdout)),
    requests,
    non2xx,
    errors,
  }
}

function latencyMs(m: RegExpExecArray | null): number {
  if (!m) return Number.NaN
  const v = Number(m[1])
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v
}

async function undiciGet(url: string, opts: LoadOptions): Promise<LoadResult> {
  const u = new URL(url)
  const pool = new Pool(u.origin, { connections: opts.connections, pipelining: 1 })
  const deadline = performance.now() + opts.seconds * 1000
  const latencies: number[] = []
  let non2xx = 0
  let errors = 0
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const t0 = performance.now()
      try {
        const res = await pool.request({ path: u.pathname + u.search, method: 'GET', headers: opts.headers })
        await res.body.dump({ limit: 1 << 20 })
        if (res.statusCode >= 200 && res.statusCode < 300) latencies.push(performance.now() - t0)
        else non2xx++
      } catch {
        errors++
      }
    }
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: opts.connections }, worker))
  const seconds = (performance.now() - t0) / 1000
  await pool.close()
  latencies.sort((a, b) => a - b)
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? Number.NaN
  return {
    tool: 'undici',
    requestsPerSecond: latencies.length / seconds,
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
    requests: latencies.length + non2xx,
    non2xx,
    errors,
  }
}
