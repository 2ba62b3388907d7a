/**
 * The machine's own ceilings, measured in the same run as the registries so every figure can be read against them:
 * sha256 over a file (Node, 1 MiB reads; and `openssl dgst` when present), writing a file and syncing it (what a
 * push and a cache fill must do before they answer), and loopback HTTP streaming from a separate node:http process
 * to this process's undici client (from memory, and from a file with 1 MiB reads).
 */
import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import { request, type Agent } from 'undici'
import { REPO_ROOT } from './servers.ts'
import { which } from './tools.ts'
import { MiB } from './units.ts'

const run = promisify(execFile)

/** Node sha256 of a file, 1 MiB reads; ms. */
export async function hashFileMs(path: string): Promise<number> {
  const t0 = performance.now()
  const h = createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: MiB })) h.update(chunk as Buffer)
  h.digest()
  return performance.now() - t0
}

/** `openssl dgst -sha256 FILE` wall time (process included), ms; undefined without openssl. */
export async function opensslHashMs(path: string): Promise<number | undefined> {
  if (!which('openssl')) return undefined
  const t0 = performance.now()
  await run('openssl', ['dgst', '-sha256', path], { timeout: 120_000 })
  return performance.now() - t0
}

/** Writes `bytes` of `block` (repeated) to a new file beside `nearPath` in 1 MiB writes, then fsyncs it; ms. */
export async function writeSyncMs(nearPath: string, bytes: number): Promise<number> {
  const path = `${nearPath}.write-limit`
  const block = Buffer.alloc(MiB, 0x5a)
  const t0 = performance.now()
  const fh = await open(path, 'w')
  try {
    for (let off = 0; off < bytes; off += MiB) await fh.write(block, 0, Math.min(MiB, bytes - off), off)
    await fh.sync()
  } finally {
    await fh.close()
  }
  const ms = performance.now() - t0
  await rm(path, { force: true })
  return ms
}

export interface LoopbackServer {
  url: string
  pid: number
  stop(): Promise<void>
}

export async function startLoopbackServer(): Promise<LoopbackServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', join('bench', 'lib', 'loopback-server.ts')], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  const lines = createInterface({ input: child.stdout })
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error('loopback server not ready after 30 s')), 30_000)
    lines.on('line', (l) => {
      const m = /^LOOPBACK_READY (\d+)$/.exec(l)
      if (m) {
        clearTimeout(timer)
        resolvePort(Number(m[1]))
      }
    })
    child.once('exit', () => reject(new Error('loopback server exited')))
  })
  process.once('exit', () => child.kill('SIGKILL'))
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    },
  }
}

/** GET `url` with undici, counting (not hashing) the bytes; ms. Throws on a short body. */
export async function countingGetMs(url: string, expected: number, agent?: Agent): Promise<number> {
  const t0 = performance.now()
  const res = await request(url, agent ? { dispatcher: agent } : {})
  if (res.statusCode !== 200) throw new Error(`GET ${url}: ${res.statusCode}`)
  let n = 0
  for await (const c of res.body) n += (c as Buffer).byteLength
  if (n !== expected) throw new Error(`GET ${url}: ${n} bytes, expected ${expected}`)
  return performance.now() - t0
}
