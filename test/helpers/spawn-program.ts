import { spawn } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

export interface SpawnedProgram {
  /** http://127.0.0.1:PORT */
  url: string
  /** 127.0.0.1:PORT */
  host: string
  dataDir: string
  pid: number
  /** Whether the process is still running (a crash ends it). */
  running(): boolean
  /** What it wrote to stderr so far (a crash's stack, say). */
  stderr(): string
  /** Sends the signal (default SIGKILL) and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>
  /** Stops it with SIGTERM and removes the data folder unless the caller owns it. */
  close(): Promise<void>
}

/**
 * Runs one of the programs (`origin/main.ts`, `cache-node/main.ts`) as a child process, for tests that kill it,
 * and resolves once it prints `<readyTag> host:port`. `ownsDataDir` says whether close() removes `dataDir`.
 */
export async function spawnProgram(opts: {
  entry: string
  readyTag: string
  env: Record<string, string | undefined>
  dataDir: string
  ownsDataDir: boolean
}): Promise<SpawnedProgram> {
  const child = spawn(process.execPath, ['--import', 'tsx', opts.entry], {
    cwd: join(import.meta.dirname, '../..'),
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const host = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout })
    lines.on('line', (line) => {
      if (line.startsWith(`${opts.readyTag} `)) resolve(line.slice(opts.readyTag.length + 1).trim())
    })
    child.once('exit', (code) => reject(new Error(`${opts.entry} exited with ${code} before listening:\n${stderr}`)))
  })
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    await exited
  }
  return {
    url: `http://${host}`,
    host,
    dataDir: opts.dataDir,
    pid: child.pid!,
    running: () => child.exitCode === null && child.signalCode === null,
    stderr: () => stderr,
    kill,
    async close() {
      await kill('SIGTERM')
      if (opts.ownsDataDir) await rm(opts.dataDir, { recursive: true, force: true })
    },
  }
}
