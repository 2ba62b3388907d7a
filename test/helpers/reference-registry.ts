/**
 * The CNCF distribution registry (Debian package `docker-registry`) as a reference target for the e2e
 * tests: the same tests run against it with WHARF_E2E_REFERENCE=1, which tells a wrong test apart from a
 * wrong origin. Loopback only; a free port is picked by binding 127.0.0.1:0 first.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface ReferenceRegistry {
  url: string
  host: string
  dataDir: string
  pid: number
  logFile: string
  close(): Promise<void>
  kill(signal?: NodeJS.Signals): Promise<void>
}

export const REFERENCE_REGISTRY_BIN = '/usr/bin/docker-registry'

export function referenceRegistryAvailable(): boolean {
  return existsSync(REFERENCE_REGISTRY_BIN)
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

async function waitListening(port: number, child: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + 15_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`docker-registry exited early:\n${readFileSync(logFile, 'utf8').slice(-2000)}`)
    }
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1')
      s.once('connect', () => (s.destroy(), resolve(true)))
      s.once('error', () => resolve(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`docker-registry did not listen on 127.0.0.1:${port}`)
}

/** Starts `docker-registry serve` on 127.0.0.1:<free port>, storing into dataDir (a fresh temp dir by default). */
export async function startReferenceRegistry(opts: { dataDir?: string } = {}): Promise<ReferenceRegistry> {
  const ownDir = !opts.dataDir
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'wharf-refreg-'))
  const port = await freePort()
  const config = join(dataDir, `config-${port}.yml`)
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log: {level: info}',
      'storage:',
      `  filesystem: {rootdirectory: ${join(dataDir, 'data')}}`,
      '  delete: {enabled: true}',
      `http: {addr: "127.0.0.1:${port}"}`,
      '',
    ].join('\n'),
  )
  const logFile = join(dataDir, `registry-${port}.log`)
  const fd = openSync(logFile, 'a')
  // distribution reads REGISTRY_<SECTION>_<KEY> overrides from the environment: REGISTRY_AUTH_FILE (set for
  // podman/skopeo by scripts/clients.sh) would become `auth.file` and break the config, so drop them all
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_')))
  const child = spawn(REFERENCE_REGISTRY_BIN, ['serve', config], { stdio: ['ignore', fd, fd], env })
  closeSync(fd)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  await waitListening(port, child, logFile)
  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    await exited
  }
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    dataDir,
    pid: child.pid ?? -1,
    logFile,
    kill,
    close: async () => {
      await kill('SIGTERM')
      if (ownDir) rmSync(dataDir, { recursive: true, force: true })
    },
  }
}
