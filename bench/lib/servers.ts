/**
 * Registries under test, each a child process on 127.0.0.1 with its own temporary folder (storage + log), removed
 * on stop(). Both kinds share one BenchServer shape so a benchmark can loop over targets; later targets (a Wharf
 * cache node, distribution as a pull-through proxy) fit the same shape.
 *
 * - Wharf origin: `node [nodeArgs] --import tsx origin/main.ts`, port 0, ready at its `WHARF_ORIGIN_READY host:port`
 *   stdout line. The measured PID is that node process itself. It has docker token auth: the bench sets the first
 *   admin's password (ORIGIN_ADMIN_PASSWORD, random per start) and hands it out as `credentials`.
 * - CNCF distribution 2.8.2 (Debian `docker-registry`): filesystem storage, delete enabled, log level error,
 *   access log off, on a free port picked by binding 127.0.0.1:0 first; ready when /v2/ answers. With `proxyOf`
 *   it is a pull-through proxy of another registry (start that one first: 2.8 pings it at start-up).
 * - Wharf cache node (`cache-node/main.ts`, when it exists): like the origin, ready at `WHARF_CACHE_READY host:port`,
 *   upstream the Wharf origin; clients use origin-issued tokens.
 * - Wharf control plane (`control-plane/main.ts`): ready at `WHARF_CONTROL_PLANE_READY host:port`, trusting the
 *   origin's tokens; on a port given in advance when the origin must know its address (ORIGIN_CONTROL_PLANE_URL).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, createWriteStream, existsSync, openSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { homedir, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { request } from 'undici'

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..')
/**
 * Where Wharf's programs are built and run from: this working tree by default; another checkout of it named by
 * WHARF_BENCH_PROGRAMS; or, after useCommittedPrograms(), a snapshot of a commit. So a benchmark can measure
 * committed code while the working tree is mid-edit.
 */
let programs = { root: resolve(process.env.WHARF_BENCH_PROGRAMS ?? REPO_ROOT), commit: undefined as string | undefined }

export function programsRoot(): string {
  return programs.root
}

/**
 * Builds and runs the programs from `ref` (default HEAD) instead of the working tree: `git archive` unpacked into
 * ~/.cache/wharf-bench/programs-<commit> (kept for the next run; outside /tmp, which other work on a shared machine
 * may clean) with this tree's node_modules linked in. Call before the first server starts. Returns the folder.
 */
export async function useCommittedPrograms(ref = 'HEAD'): Promise<string> {
  const commit = (await run('git', ['rev-parse', '--short', ref], { cwd: REPO_ROOT })).stdout.trim()
  const dir = join(homedir(), '.cache', 'wharf-bench', `programs-${commit}`)
  if (!existsSync(join(dir, 'package.json'))) {
    await rm(dir, { recursive: true, force: true })
    await mkdir(dir, { recursive: true })
    await run('sh', ['-c', 'git archive "$1" | tar -x -C "$2"', 'sh', commit, dir], { cwd: REPO_ROOT, maxBuffer: 1 << 20 })
  }
  if (!existsSync(join(dir, 'node_modules'))) await symlink(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'))
  programs = { root: dir, commit }
  return dir
}
export const DISTRIBUTION_BIN = '/usr/bin/docker-registry'

export type ServerKind = 'wharf-origin' | 'wharf-cache' | 'wharf-control-plane' | 'distribution' | 'distribution-proxy'

export interface BenchServer {
  kind: ServerKind
  /** Short label for tables: "Wharf", "Distribution". */
  label: string
  /** http://127.0.0.1:PORT */
  url: string
  pid: number
  /** Temporary folder holding storage and the log; removed by stop() unless kept. */
  workDir: string
  logFile: string
  /** Version string for the result's metadata. */
  version: string
  /** Basic credentials for the registry's token realm, when it has token auth (Wharf's bootstrap admin). */
  credentials?: { username: string; password: string }
  /** Settings that matter for comparing figures (fsync, log level...). */
  settings: Record<string, string | number | boolean>
  /** SIGTERM, SIGKILL after `graceMs`, then the folder is removed. Safe to call twice. */
  stop(graceMs?: number): Promise<void>
  /** undefined while the process runs; how it ended ("code 1", "signal SIGSEGV") once it has exited. */
  exitStatus(): string | undefined
}

const STARTUP_TIMEOUT_MS = 30_000

// children still alive when the benchmark process exits (a crash, an uncaught error) are killed with it
const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

export interface WharfOptions {
  /** ORIGIN_FSYNC; default true, the production setting (distribution fsyncs on commit as well). */
  fsync?: boolean
  /** ORIGIN_LOG_LEVEL; default 'error', matching distribution's. */
  logLevel?: string
  /** Extra node flags before the entry point, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/prof']. */
  nodeArgs?: string[]
  env?: Record<string, string>
  /** Keep the temporary folder on stop (to look at logs or profiles). */
  keep?: boolean
}

/** Starts `origin/main.ts` as a child process on 127.0.0.1:0 and waits for its READY line. */
export async function startWharfOrigin(opts: WharfOptions = {}): Promise<BenchServer> {
  const fsync = opts.fsync ?? true
  const logLevel = opts.logLevel ?? 'error'
  // the origin has docker token auth: a fresh database gets this admin, whose credentials the client sends to /auth/token
  const credentials = { username: 'admin', password: randomBytes(18).toString('base64url') }
  return startWharfChild({
    kind: 'wharf-origin',
    label: 'Wharf',
    entry: 'origin/main.ts',
    readyPrefix: 'WHARF_ORIGIN_READY',
    opts,
    env: (workDir) => ({
      ORIGIN_LISTEN: '127.0.0.1:0',
      ORIGIN_DATA_DIR: join(workDir, 'data'),
      ORIGIN_LOG_LEVEL: logLevel,
      ORIGIN_FSYNC: String(fsync),
      ORIGIN_ADMIN_USER: credentials.username,
      ORIGIN_ADMIN_PASSWORD: credentials.password,
    }),
    credentials,
    settings: { fsync, logLevel, node: process.version, nodeArgs: (opts.nodeArgs ?? []).join(' '), code: 'dist/ (npm run build)' },
  })
}

/** Where the Wharf cache node's entry point is (written separately; the bench reports its rows as missing without it). */
export const WHARF_CACHE_ENTRY = 'cache-node/main.ts'

export function cacheNodeAvailable(): boolean {
  return existsSync(join(REPO_ROOT, WHARF_CACHE_ENTRY))
}

export interface WharfCacheOptions extends Omit<WharfOptions, 'fsync'> {
  /** CACHE_MAX_BYTES; default 64 GB, so nothing a benchmark stores is evicted. */
  maxBytes?: number
  /** CACHE_TAG_TTL; default '30s': a warm tag is served from the cache for the whole load run. */
  tagTtl?: string
}

/**
 * Starts `cache-node/main.ts` in front of a Wharf origin (CACHE_UPSTREAM_URL and CACHE_ORIGIN_URL both the origin)
 * on 127.0.0.1:0 and waits for its `WHARF_CACHE_READY host:port` line. Clients present origin-issued tokens (the
 * cache's /v2/ challenge names the origin's realm), so the origin's credentials are handed out with it.
 */
export async function startWharfCache(origin: BenchServer, opts: WharfCacheOptions = {}): Promise<BenchServer> {
  const logLevel = opts.logLevel ?? 'error'
  const maxBytes = opts.maxBytes ?? 64e9
  const tagTtl = opts.tagTtl ?? '30s'
  return startWharfChild({
    kind: 'wharf-cache',
    label: 'Wharf cache',
    entry: WHARF_CACHE_ENTRY,
    readyPrefix: 'WHARF_CACHE_READY',
    opts,
    env: (workDir) => ({
      CACHE_LISTEN: '127.0.0.1:0',
      CACHE_DATA_DIR: join(workDir, 'data'),
      CACHE_UPSTREAM_URL: origin.url,
      CACHE_ORIGIN_URL: origin.url,
      CACHE_MAX_BYTES: String(maxBytes),
      CACHE_TAG_TTL: tagTtl,
      CACHE_LOG_LEVEL: logLevel,
    }),
    credentials: origin.credentials,
    settings: { upstream: origin.url, maxBytes, tagTtl, logLevel, node: process.version },
  })
}

export interface WharfControlPlaneOptions extends Omit<WharfOptions, 'fsync'> {
  /** Port to listen on; default 0 (a free one). Give one from freePort() when the origin must know it first. */
  port?: number
}

/**
 * Starts `control-plane/main.ts` trusting `origin`'s tokens (CONTROL_PLANE_ORIGIN_URL) on 127.0.0.1 and waits for its
 * `WHARF_CONTROL_PLANE_READY host:port` line. Admins call it with an origin token holding `controlplane:admin:*`,
 * which the origin's admin credentials (handed out with it) can get.
 */
export async function startWharfControlPlane(origin: BenchServer, opts: WharfControlPlaneOptions = {}): Promise<BenchServer> {
  const logLevel = opts.logLevel ?? 'error'
  const port = opts.port ?? 0
  return startWharfChild({
    kind: 'wharf-control-plane',
    label: 'Wharf control plane',
    entry: 'control-plane/main.ts',
    readyPrefix: 'WHARF_CONTROL_PLANE_READY',
    opts,
    env: (workDir) => ({
      CONTROL_PLANE_LISTEN: `127.0.0.1:${port}`,
      CONTROL_PLANE_DATA_DIR: join(workDir, 'data'),
      CONTROL_PLANE_ORIGIN_URL: origin.url,
      CONTROL_PLANE_LOG_LEVEL: logLevel,
    }),
    credentials: origin.credentials,
    settings: { origin: origin.url, logLevel, node: process.version },
  })
}

interface WharfChildSpec {
  kind: ServerKind
  label: string
  entry: string
  readyPrefix: string
  opts: WharfOptions
  env: (workDir: string) => Record<string, string>
  credentials?: { username: string; password: string }
  settings: Record<string, string | number | boolean>
}

let built: Promise<void> | undefined

/**
 * Compiles the programs into dist/ (`npm run build`) once per benchmark run: they are measured as they are deployed,
 * as plain JavaScript, without the tsx loader that development runs use (about 25 MB of resident memory).
 */
export function buildWharf(): Promise<void> {
  built ??= run(process.execPath, [join(programs.root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], {
    cwd: programs.root,
    timeout: 300_000,
  }).then(
    () => undefined,
    (err: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(`npm run build failed:\n${err.stdout ?? ''}${err.stderr ?? err.message}`)
    },
  )
  return built
}

/** `node [nodeArgs] dist/<entry>.js` with its own temporary folder; resolves at its `<PREFIX> host:port` line. */
async function startWharfChild(spec: WharfChildSpec): Promise<BenchServer> {
  const { opts } = spec
  await buildWharf()
  const workDir = await mkdtemp(join(tmpdir(), `wharf-bench-${spec.kind}-`))
  const logFile = join(workDir, `${spec.kind}.log`)
  const log = createWriteStream(logFile)
  const entry = join('dist', spec.entry.replace(/\.ts$/, '.js'))
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), entry], {
    cwd: programs.root,
    env: { ...process.env, ...opts.env, ...spec.env(workDir) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  live.add(child)
  const exited = exitPromise(child)
  child.stderr!.pipe(log, { end: false })
  // every stdout line goes to the log (the pipe must keep draining); the READY line also resolves the start
  const lines = createInterface({ input: child.stdout! })
  const readyRe = new RegExp(`^${spec.readyPrefix} (\\S+)$`)
  const ready = new Promise<string>((resolveReady) => {
    lines.on('line', (line) => {
      if (!line.startsWith('WHARF_ADMIN_CREDENTIALS ')) log.write(`${line}\n`)
      const m = readyRe.exec(line)
      if (m) resolveReady(m[1]!)
    })
  })
  let host: string
  try {
    host = await raceStartup(ready, exited, `${spec.label} (log ${logFile})`)
  } catch (err) {
    await killAndWait(child, exited, 0)
    log.end()
    const message = `${(err as Error).message}\n${tail(logFile)}`
    if (!opts.keep) await rm(workDir, { recursive: true, force: true })
    throw new Error(message)
  }
  const stop = stopper(child, exited, async () => {
    log.end()
    if (!opts.keep) await rm(workDir, { recursive: true, force: true })
  })
  const exitStatus = exitTracker(exited)
  return {
    kind: spec.kind,
    label: spec.label,
    url: `http://${host}`,
    pid: child.pid!,
    workDir,
    logFile,
    version: await wharfVersion(),
    ...(spec.credentials ? { credentials: spec.credentials } : {}),
    settings: spec.settings,
    stop,
    exitStatus,
  }
}

export interface DistributionOptions {
  binary?: string
  /** log.level; default 'error'. */
  logLevel?: string
  keep?: boolean
  /** Run as a pull-through proxy of this registry (proxy.remoteurl), as in the peer recipe. */
  proxyOf?: BenchServer
}

export function distributionAvailable(binary = DISTRIBUTION_BIN): boolean {
  return existsSync(binary)
}

/** Starts Debian's docker-registry (CNCF distribution 2.8.2) on a free loopback port and waits until /v2/ answers. */
export async function startDistribution(opts: DistributionOptions = {}): Promise<BenchServer> {
  const binary = opts.binary ?? DISTRIBUTION_BIN
  if (!distributionAvailable(binary)) {
    throw new Error(`${binary} is missing: apt-get install -y docker-registry (Debian's CNCF distribution 2.8.2)`)
  }
  const workDir = await mkdtemp(join(tmpdir(), 'wharf-bench-distribution-'))
  const logFile = join(workDir, 'registry.log')
  const logLevel = opts.logLevel ?? 'error'
  const port = await freePort()
  const config = join(workDir, 'config.yml')
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      `  level: ${logLevel}`,
      '  formatter: text',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(workDir, 'data')}`,
      '  delete:',
      '    enabled: true',
      '  cache:',
      '    blobdescriptor: inmemory',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      ...(opts.proxyOf ? ['proxy:', `  remoteurl: ${opts.proxyOf.url}`] : []),
      '',
    ].join('\n'),
  )
  const fd = openSync(logFile, 'a')
  // distribution reads REGISTRY_<SECTION>_<KEY> overrides from the environment (REGISTRY_AUTH_FILE, set for podman
  // by some scripts, would become auth.file): pass none of them
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_')))
  const child = spawn(binary, ['serve', config], { stdio: ['ignore', fd, fd], env })
  closeSync(fd)
  live.add(child)
  const exited = exitPromise(child)
  const url = `http://127.0.0.1:${port}`
  try {
    await raceStartup(waitForV2(url, port), exited, `distribution on ${url} (log ${logFile})`)
  } catch (err) {
    await killAndWait(child, exited, 0)
    throw new Error(`${(err as Error).message}\n${tail(logFile)}`)
  }
  const stop = stopper(child, exited, async () => {
    if (!opts.keep) await rm(workDir, { recursive: true, force: true })
  })
  const exitStatus = exitTracker(exited)
  return {
    kind: opts.proxyOf ? 'distribution-proxy' : 'distribution',
    label: opts.proxyOf ? 'Distribution proxy' : 'Distribution',
    url,
    pid: child.pid!,
    workDir,
    logFile,
    version: await distributionVersion(binary),
    settings: {
      logLevel,
      accessLog: false,
      storage: 'filesystem',
      blobDescriptorCache: 'inmemory',
      ...(opts.proxyOf ? { proxyRemoteUrl: opts.proxyOf.url } : {}),
    },
    stop,
    exitStatus,
  }
}

/** A port that was free a moment ago (bound on 127.0.0.1:0, then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolvePort(port))
    })
  })
}

function exitPromise(child: ChildProcess): Promise<string> {
  return new Promise((resolveExit) => {
    child.once('exit', (code, signal) => {
      live.delete(child)
      resolveExit(signal ? `signal ${signal}` : `code ${code}`)
    })
  })
}

/** A getter for how the child ended: undefined until its exit promise settles. */
function exitTracker(exited: Promise<string>): () => string | undefined {
  let status: string | undefined
  void exited.then((how) => {
    status = how
  })
  return () => status
}

async function raceStartup<T>(ready: Promise<T>, exited: Promise<string>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} not ready after ${STARTUP_TIMEOUT_MS} ms`)), STARTUP_TIMEOUT_MS)
  })
  const died = exited.then((how): never => {
    throw new Error(`${what} exited (${how}) before it was ready`)
  })
  try {
    return await Promise.race([ready, died, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Polls (bounded by the start-up timeout) until the port accepts and GET /v2/ answers 200 or 401. */
async function waitForV2(url: string, port: number): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (await canConnect(port)) {
      try {
        const res = await request(`${url}/v2/`, { headersTimeout: 2000, bodyTimeout: 2000 })
        await res.body.dump()
        if (res.statusCode === 200 || res.statusCode === 401) return
      } catch {
        // not answering yet
      }
    }
    await sleep(50)
  }
  throw new Error(`${url}/v2/ did not answer within ${STARTUP_TIMEOUT_MS} ms`)
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolveConnect) => {
    const s = connect(port, '127.0.0.1')
    s.once('connect', () => {
      s.destroy()
      resolveConnect(true)
    })
    s.once('error', () => resolveConnect(false))
  })
}

async function killAndWait(child: ChildProcess, exited: Promise<string>, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill(graceMs > 0 ? 'SIGTERM' : 'SIGKILL')
  if (graceMs > 0) {
    const done = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)])
    if (done) return
    child.kill('SIGKILL')
  }
  await exited
}

function stopper(child: ChildProcess, exited: Promise<string>, cleanup: () => Promise<void>) {
  let stopping: Promise<void> | undefined
  return (graceMs = 10_000): Promise<void> =>
    (stopping ??= (async () => {
      await killAndWait(child, exited, graceMs)
      await cleanup()
    })())
}

/** The last ~2 KB of a log file, for start-up errors. */
function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-2000)
  } catch {
    return ''
  }
}

const run = promisify(execFile)

async function wharfVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(join(programs.root, 'package.json'), 'utf8')) as { version?: string }
  if (programs.commit) return `wharf ${pkg.version ?? '?'} (${programs.commit}, committed)`
  if (programs.root !== REPO_ROOT) return `wharf ${pkg.version ?? '?'} (${programs.root})`
  // read-only git queries; a missing git or repository just leaves the commit out
  const commit = await run('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT }).then(
    (r) => r.stdout.trim(),
    () => '',
  )
  return `wharf ${pkg.version ?? '?'}${commit ? ` (${commit}, working tree)` : ''}`
}

async function distributionVersion(binary: string): Promise<string> {
  return run(binary, ['--version']).then(
    (r) => r.stdout.trim().replace(/^\S*docker-registry\s+/, ''),
    () => 'unknown',
  )
}
