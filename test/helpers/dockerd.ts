/**
 * A dockerd of the test's own, for settings the shared one (scripts/clients.sh) cannot have: a
 * `registry-mirrors` entry pointing at a cache whose port is only known once the test has started it.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run } from './clients.ts'

export interface TestDockerd {
  /** unix:///…/docker.sock */
  host: string
  /** env for the docker CLI: DOCKER_HOST and a private DOCKER_CONFIG */
  env: Record<string, string>
  docker(args: readonly string[], opts?: { input?: string }): Promise<{ stdout: string; output: string }>
  stop(): Promise<void>
}

/** Starts dockerd (vfs, no bridge, no iptables) with its own data and exec roots under a short temp path. */
export async function startDockerd(opts: { mirrors?: string[]; insecure?: string[] } = {}): Promise<TestDockerd> {
  // short: containerd's socket lives under the exec root and unix socket paths are limited to 108 bytes
  const dir = mkdtempSync('/tmp/wd-')
  const config = { 'registry-mirrors': opts.mirrors ?? [], 'insecure-registries': opts.insecure ?? [] }
  writeFileSync(join(dir, 'daemon.json'), JSON.stringify(config))
  const sock = join(dir, 'd.sock')
  const child = spawn(
    'dockerd',
    [
      '--data-root',
      join(dir, 'data'),
      '--exec-root',
      join(dir, 'x'),
      '-H',
      `unix://${sock}`,
      '--pidfile',
      join(dir, 'pid'),
      '--config-file',
      join(dir, 'daemon.json'),
      '--storage-driver=vfs',
      '--iptables=false',
      '--ip-masq=false',
      '--bridge=none',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  )
  let log = ''
  child.stderr.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const env = { DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: join(dir, 'config'), DOCKER_BUILDKIT: '0' }
  const docker: TestDockerd['docker'] = (args, o) => run('docker', args, { env, input: o?.input })
  let ready = false
  for (let i = 0; i < 300 && child.exitCode === null; i++) {
    if (
      await docker(['info']).then(
        () => true,
        () => false,
      )
    ) {
      ready = true
      break
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM')
    const killer = setTimeout(() => child.exitCode === null && child.kill('SIGKILL'), 20_000)
    await exited
    clearTimeout(killer)
    // a dockerd leaves mounts (netns, vfs layers) under its roots; only ours are touched
    const mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(`${dir}/`))
      .sort()
      .reverse()
    for (const m of mounts) await run('umount', ['-l', m]).catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
  }
  if (!ready) {
    await stop()
    throw new Error(`dockerd did not become ready:\n${log}`)
  }
  return { host: env.DOCKER_HOST, env, docker, stop }
}
