/**
 * Real registry clients (docker, podman, skopeo, ctr) for end-to-end tests.
 *
 * The daemons are started outside vitest by `scripts/clients.sh up`, whose export lines the test runner
 * evaluates (`eval "$(bash scripts/clients.sh up)"` in scripts/test.sh). This module only reads those
 * variables, checks that the daemons answer, and offers small helpers to run the client binaries.
 *
 *   - clients unavailable + WHARF_REQUIRE_CLIENTS=1 → the suite FAILS with the reason;
 *   - clients unavailable otherwise               → the suite is skipped with a loud warning on stderr.
 */
import { execFileSync, spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { describeWhenAvailable } from './requires.ts'

export interface ClientsEnv {
  /** unix:///…/docker.sock of the private dockerd */
  dockerHost: string
  dockerdSock: string
  containerdSock: string
  /** `--root … --runroot … --storage-driver vfs`, already split into arguments */
  podmanFlags: string[]
  /** base dir of scripts/clients.sh (daemon logs are in `${clientsDir}/logs`) */
  clientsDir: string
}

export type ClientsAvailability = { ok: true; env: ClientsEnv } | { ok: false; reason: string }

const REQUIRED_BINS = ['docker', 'podman', 'skopeo', 'ctr', 'tar'] as const

let cached: ClientsAvailability | undefined

/** Reads the variables printed by `scripts/clients.sh up` and checks that both daemons answer. Memoised. */
export function clientsAvailable(): ClientsAvailability {
  cached ??= probe()
  return cached
}

function probe(): ClientsAvailability {
  const e = process.env
  const names = [
    'DOCKER_HOST',
    'WHARF_DOCKERD_SOCK',
    'WHARF_CONTAINERD_SOCK',
    'WHARF_PODMAN_FLAGS',
    'WHARF_CLIENTS_DIR',
  ] as const
  const unset = names.filter((n) => !e[n])
  if (unset.length > 0) {
    return {
      ok: false,
      reason: `${unset.join(', ')} not set — run the tests through scripts/test.sh, or first: eval "$(bash scripts/clients.sh up)"`,
    }
  }
  const env: ClientsEnv = {
    dockerHost: e.DOCKER_HOST as string,
    dockerdSock: e.WHARF_DOCKERD_SOCK as string,
    containerdSock: e.WHARF_CONTAINERD_SOCK as string,
    podmanFlags: (e.WHARF_PODMAN_FLAGS as string).split(/\s+/).filter(Boolean),
    clientsDir: e.WHARF_CLIENTS_DIR as string,
  }
  if (env.dockerHost !== `unix://${env.dockerdSock}`) {
    return {
      ok: false,
      reason: `DOCKER_HOST (${env.dockerHost}) is not the private dockerd (unix://${env.dockerdSock})`,
    }
  }
  for (const sock of [env.dockerdSock, env.containerdSock]) {
    if (!isSocket(sock))
      return { ok: false, reason: `${sock} is not a socket — is scripts/clients.sh up still running?` }
  }
  const missing = REQUIRED_BINS.filter((b) => !onPath(b))
  if (missing.length > 0) {
    return {
      ok: false,
      reason: `missing binaries on PATH: ${missing.join(', ')} — run: sudo bash scripts/clients.sh install`,
    }
  }
  // the sockets may be stale files: ask both daemons
  try {
    execFileSync('docker', ['version', '--format', '{{.Server.Version}}'], {
      env: { ...process.env, DOCKER_HOST: env.dockerHost },
      timeout: 15_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
  } catch (err) {
    return { ok: false, reason: `dockerd at ${env.dockerdSock} does not answer: ${errText(err)}` }
  }
  try {
    execFileSync('ctr', ['-a', env.containerdSock, 'version'], { timeout: 15_000, stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    return { ok: false, reason: `containerd at ${env.containerdSock} does not answer: ${errText(err)}` }
  }
  return { ok: true, env }
}

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket()
  } catch {
    return false
  }
}

function onPath(bin: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    try {
      if (statSync(join(dir, bin)).isFile()) return true
    } catch {
      // not in this dir
    }
  }
  return false
}

function errText(err: unknown): string {
  const e = err as { stderr?: Buffer | string; message?: string }
  const stderr = e.stderr ? String(e.stderr).trim() : ''
  return stderr || e.message || String(err)
}

/**
 * `describe` for suites that need real clients. When they are unavailable the suite fails (with
 * WHARF_REQUIRE_CLIENTS=1) or is skipped after a warning on stderr; `fn` is then never called.
 */
export function describeWithClients(name: string, fn: (env: ClientsEnv) => void): void {
  const avail = clientsAvailable()
  describeWhenAvailable('the real registry clients', avail.ok ? { ok: true, value: avail.env } : avail, name, fn)
}

// ------------------------------------------------------------------------------------------------ run

export interface RunOptions {
  /** merged over process.env */
  env?: Record<string, string | undefined>
  /** written to stdin, then stdin is closed */
  input?: string | Buffer
  cwd?: string
  /** default 100 s; the child gets SIGKILL when it runs out */
  timeoutMs?: number
}

export interface RunResult {
  stdout: string
  stderr: string
  /** stdout + stderr interleaved in arrival order */
  output: string
}

export class RunError extends Error {
  constructor(
    message: string,
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(message)
    this.name = 'RunError'
  }
}

/** Runs a command without a shell; rejects with a RunError carrying stderr on non-zero exit or timeout. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 100_000
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, ...opts.env },
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    const all: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => (out.push(b), all.push(b)))
    child.stderr.on('data', (b: Buffer) => (err.push(b), all.push(b)))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutMs)
    const line = [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ')
    child.on('error', (e) => {
      clearTimeout(timer)
      reject(new RunError(`${line}: ${e.message}`, null, null, '', ''))
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const stdout = Buffer.concat(out).toString('utf8')
      const stderr = Buffer.concat(err).toString('utf8')
      if (code === 0 && !timedOut) {
        resolve({ stdout, stderr, output: Buffer.concat(all).toString('utf8') })
        return
      }
      const why = timedOut ? `timed out after ${timeoutMs} ms` : signal ? `killed by ${signal}` : `exit code ${code}`
      reject(
        new RunError(
          `${line}: ${why}\n--- stderr ---\n${tail(stderr)}\n--- stdout ---\n${tail(stdout)}`,
          code,
          signal,
          stdout,
          stderr,
        ),
      )
    })
    child.stdin.on('error', () => {}) // the child may exit without reading stdin
    child.stdin.end(opts.input ?? '')
  })
}

function tail(s: string, max = 4000): string {
  const t = s.trimEnd()
  return t.length > max ? `…${t.slice(-max)}` : t
}

// ----------------------------------------------------------------------------------- per-test sandboxes

export interface ClientSandbox {
  /** scratch dir for build contexts, archives, `dir:` copies */
  dir: string
  /** env for docker/podman/skopeo/ctr with a fresh DOCKER_CONFIG and REGISTRY_AUTH_FILE (no shared logins) */
  env: Record<string, string>
  /** `podman <global flags> ...args` */
  podman(args: readonly string[], opts?: RunOptions): Promise<RunResult>
  docker(args: readonly string[], opts?: RunOptions): Promise<RunResult>
  skopeo(args: readonly string[], opts?: RunOptions): Promise<RunResult>
  /** `ctr -a <private containerd> -n <namespace of this sandbox> ...args` */
  ctr(args: readonly string[], opts?: RunOptions): Promise<RunResult>
  /** containerd namespace used by `ctr` (unique per sandbox) */
  ctrNamespace: string
  /** `docker login` and `podman login` (whose auth file skopeo reads too) to a registry, password on stdin */
  login(host: string, creds: { username: string; password: string }): Promise<void>
  cleanup(): void
}

/** A fresh temp dir with its own docker config dir and containers auth file. */
export function clientSandbox(clients: ClientsEnv, label: string): ClientSandbox {
  const dir = mkdtempSync(join(tmpdir(), `wharf-e2e-${label}-`))
  const dockerConfig = join(dir, '.docker-config')
  const authFile = join(dir, '.containers-auth.json')
  mkdirSync(dockerConfig)
  writeFileSync(authFile, '{}')
  const env: Record<string, string> = {
    DOCKER_HOST: clients.dockerHost,
    DOCKER_CONFIG: dockerConfig,
    DOCKER_BUILDKIT: '0',
    REGISTRY_AUTH_FILE: authFile,
  }
  const ctrNamespace = `wharf-e2e-${label}-${randomBytes(4).toString('hex')}`.toLowerCase().replace(/[^a-z0-9-]/g, '-')
  const merge = (o?: RunOptions): RunOptions => ({ ...o, env: { ...env, ...o?.env } })
  return {
    dir,
    env,
    ctrNamespace,
    podman: (args, o) => run('podman', [...clients.podmanFlags, ...args], merge(o)),
    docker: (args, o) => run('docker', args, merge(o)),
    skopeo: (args, o) => run('skopeo', args, merge(o)),
    ctr: (args, o) => run('ctr', ['-a', clients.containerdSock, '-n', ctrNamespace, ...args], merge(o)),
    async login(host, creds) {
      // podman first: it refuses to log in when docker's config already holds an identity token for the host
      await run(
        'podman',
        [...clients.podmanFlags, 'login', '--tls-verify=false', '-u', creds.username, '--password-stdin', host],
        merge({ input: creds.password }),
      )
      const dockerLogin = await run(
        'docker',
        ['login', '-u', creds.username, '--password-stdin', host],
        merge({ input: creds.password }),
      )
      if (!dockerLogin.output.includes('Login Succeeded'))
        throw new Error(`docker login failed:\n${dockerLogin.output}`)
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  }
}

// ------------------------------------------------------------------------------------------- digests

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`
}

const DIGEST_RE = /sha256:[0-9a-f]{64}/

/** The digest `docker push` prints (`<tag>: digest: sha256:… size: N`). */
export function pushedDigest(output: string): string {
  const m = /digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(output)
  if (!m?.[1]) throw new Error(`no "digest: sha256:… size:" line in push output:\n${output}`)
  return m[1]
}

/** The digest `docker pull` / `podman pull` prints (`Digest: sha256:…`). */
export function pulledDigest(output: string): string {
  const m = /Digest: (sha256:[0-9a-f]{64})/.exec(output)
  if (!m?.[1]) throw new Error(`no "Digest: sha256:…" line in pull output:\n${output}`)
  return m[1]
}

export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s) && s.length === 71
}
