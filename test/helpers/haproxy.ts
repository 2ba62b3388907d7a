/**
 * Debian's HAProxy for a test, in front of origin replicas: a configuration written to a temporary folder, haproxy
 * run in the foreground as a child of the test (so it stops with it), on a free loopback port, each backend
 * health-checked on /readyz. Installed by `scripts/haproxy.sh install`; the package's own service is never used.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './network.ts'
import { describeWhenAvailable, type Availability } from './requires.ts'

export const HAPROXY = '/usr/sbin/haproxy'

export function haproxyAvailable(): Availability {
  return existsSync(HAPROXY)
    ? { ok: true, value: undefined }
    : { ok: false, reason: `${HAPROXY} not found: run sudo bash scripts/haproxy.sh install` }
}

export function describeWithHaproxy(name: string, body: () => void): void {
  describeWhenAvailable('HAProxy', haproxyAvailable(), name, body)
}

export interface Balancer {
  /** `http://127.0.0.1:<port>` */
  url: string
  port: number
  stop(): Promise<void>
}

/** The configuration a balancer runs with: round robin over `backends` (`host:port`), /readyz checked each second. */
export function haproxyConfig(port: number, backends: string[]): string {
  return [
    'global',
    '  maxconn 2000',
    'defaults',
    '  mode http',
    '  timeout connect 5s',
    // a layer push or pull takes as long as the link needs: the programs bound stalled transfers themselves
    '  timeout client 10m',
    '  timeout server 10m',
    '  timeout http-request 60s',
    '  option forwardfor',
    'frontend wharf',
    `  bind 127.0.0.1:${port}`,
    '  default_backend origins',
    'backend origins',
    '  balance roundrobin',
    '  option httpchk GET /readyz',
    '  http-check expect status 200',
    ...backends.map((b, i) => `  server origin${i + 1} ${b} check inter 1s fall 2 rise 1`),
    '',
  ].join('\n')
}

/** Starts haproxy on `port` (a free one when not given) in front of `backends`. */
export async function startHaproxy(backends: string[], port?: number): Promise<Balancer> {
  const listen = port ?? (await freePort())
  const dir = await mkdtemp(join(tmpdir(), 'wharf-haproxy-'))
  const cfg = join(dir, 'haproxy.cfg')
  await writeFile(cfg, haproxyConfig(listen, backends))
  const child: ChildProcess = spawn(HAPROXY, ['-f', cfg, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  const url = `http://127.0.0.1:${listen}`
  // ready when a backend has passed its check: /readyz answers through the balancer
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited (${child.exitCode}): ${stderr.slice(-2000)}`)
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`haproxy did not become ready on ${url}: ${stderr.slice(-2000)}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    url,
    port: listen,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM')
        await new Promise((r) => child.once('exit', r))
      }
      await rm(dir, { recursive: true, force: true })
    },
  }
}
