/**
 * External tools the bench needs, installed from Debian's packages when missing (apt-get, root only; logged), and
 * the private dockerd of scripts/clients.sh for the docker-pull scenario.
 */
import { execFile, spawn } from 'node:child_process'
import { statSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { promisify } from 'node:util'
import { REPO_ROOT } from './servers.ts'

const run = promisify(execFile)

/** Debian package providing each command the bench uses. */
export const PACKAGES: Record<string, string> = {
  'docker-registry': 'docker-registry',
  wrk: 'wrk',
  mmdebstrap: 'mmdebstrap',
  openssl: 'openssl',
}

export function which(cmd: string): string | undefined {
  if (cmd.includes('/')) return isFile(cmd) ? cmd : undefined
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin']) {
    if (dir && isFile(join(dir, cmd))) return join(dir, cmd)
  }
  return undefined
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile()
  } catch {
    return false
  }
}

/**
 * Installs the packages of the missing commands with apt-get (as root, non-interactive; `apt-get update` only if
 * the first attempt fails). Returns the commands still missing afterwards; never throws for a failed install.
 */
export async function ensureCommands(cmds: string[], log: (msg: string) => void): Promise<string[]> {
  const missing = cmds.filter((c) => !which(c))
  if (missing.length === 0) return []
  const pkgs = [...new Set(missing.map((c) => PACKAGES[c] ?? c))]
  if (process.getuid?.() !== 0 || !which('apt-get')) {
    log(`missing: ${missing.join(', ')}; not root or no apt-get, so not installing (apt-get install -y ${pkgs.join(' ')})`)
    return missing
  }
  const apt = ['-o', 'DPkg::Lock::Timeout=600', '-y', '-q']
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  log(`installing Debian packages: apt-get install -y ${pkgs.join(' ')}`)
  try {
    await run('apt-get', [...apt, 'install', ...pkgs], { env, timeout: 15 * 60_000, maxBuffer: 64 << 20 })
  } catch {
    log('apt-get install failed; running apt-get update and retrying')
    try {
      await run('apt-get', [...apt, 'update'], { env, timeout: 10 * 60_000, maxBuffer: 64 << 20 })
      await run('apt-get', [...apt, 'install', ...pkgs], { env, timeout: 15 * 60_000, maxBuffer: 64 << 20 })
    } catch (err) {
      log(`apt-get failed: ${String((err as { stderr?: string }).stderr ?? err).slice(-1000)}`)
    }
  }
  const still = cmds.filter((c) => !which(c))
  log(still.length ? `still missing: ${still.join(', ')}` : `installed: ${pkgs.join(' ')}`)
  return still
}

/** Exports of `scripts/clients.sh up` (DOCKER_HOST and the private daemons' sockets), or the reason it failed. */
export async function dockerClients(
  log: (msg: string) => void,
): Promise<{ ok: true; env: Record<string, string> } | { ok: false; reason: string }> {
  return new Promise((resolveUp) => {
    const child = spawn('bash', [join(REPO_ROOT, 'scripts', 'clients.sh'), 'up'], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...(process.getuid?.() === 0 ? { WHARF_CLIENTS_INSTALL: '1' } : {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (b: Buffer) => (out += b.toString()))
    child.stderr.on('data', (b: Buffer) => (err += b.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 10 * 60_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      if (code !== 0) {
        resolveUp({ ok: false, reason: `scripts/clients.sh up failed (${code}): ${err.trim().slice(-600)}` })
        return
      }
      const env: Record<string, string> = {}
      for (const m of out.matchAll(/^export (\w+)=(.*)$/gm)) env[m[1]!] = unquote(m[2]!)
      if (!env.DOCKER_HOST) {
        resolveUp({ ok: false, reason: 'scripts/clients.sh up printed no DOCKER_HOST' })
        return
      }
      log(`private dockerd: ${env.DOCKER_HOST}`)
      resolveUp({ ok: true, env })
    })
  })
}

function unquote(v: string): string {
  const t = v.trim()
  if (t.startsWith("'") && t.endsWith("'")) return t.slice(1, -1).replace(/'\\''/g, "'")
  if (t.startsWith('"') && t.endsWith('"')) return t.slice(1, -1)
  return t.replace(/\\(.)/g, '$1') // printf %q: backslash-escaped spaces
}

/** `docker --version`, for the result's metadata. */
export async function commandVersion(cmd: string, args: string[]): Promise<string> {
  return run(cmd, args, { timeout: 15_000 }).then(
    (r) => `${r.stdout}${r.stderr}`.trim().split('\n')[0] ?? '',
    () => 'unknown',
  )
}
