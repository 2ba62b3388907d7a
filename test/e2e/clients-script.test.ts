/**
 * scripts/clients.sh is safe on a shared machine: each `up` gets a folder of its own, and `down` stops only the
 * daemons whose pid files are in the folder it is given (and whose command lines name it), then removes it. The
 * daemons of this test run, started by scripts/test.sh, keep answering throughout.
 */
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { describeWithClients, run, RunError } from '../helpers/clients.ts'

const ROOT = join(import.meta.dirname, '../..')
const SCRIPT = join(ROOT, 'scripts/clients.sh')

/** Running: it exists and is no zombie (a stopped daemon whose parent has gone stays one until init reaps it). */
const alive = async (pid: number) => {
  try {
    return !/^State:\s*Z/m.test(await readFile(`/proc/${pid}/status`, 'utf8'))
  } catch {
    return false
  }
}

describeWithClients('scripts/clients.sh', (clients) => {
  const dockerAnswers = () => run('docker', ['version', '--format', '{{.Server.Version}}'], { env: { DOCKER_HOST: clients.dockerHost } })

  it('up makes a folder of its own; down stops its daemons and removes it, and leaves the other daemons running', { timeout: 180_000 }, async () => {
    const up = await run('bash', [SCRIPT, 'up'], { env: { WHARF_CLIENTS_DIR: undefined } })
    const dir = /^export WHARF_CLIENTS_DIR=(\S+)$/m.exec(up.stdout)?.[1]
    expect(dir).toMatch(/\/wharf-clients\.[\w]+$/)
    expect(dir).not.toBe(clients.clientsDir)
    const pid = Number(await readFile(join(dir!, 'pids/dockerd.pid'), 'utf8'))
    expect(await alive(pid)).toBe(true)

    await run('bash', [SCRIPT, 'down'], { env: { WHARF_CLIENTS_DIR: dir } })
    expect(await alive(pid)).toBe(false)
    await expect(stat(dir!)).rejects.toThrow(/ENOENT/)
    await dockerAnswers()
  })

  it('down without WHARF_CLIENTS_DIR stops nothing and says what to give it', async () => {
    const err = (await run('bash', [SCRIPT, 'down'], { env: { WHARF_CLIENTS_DIR: undefined } }).catch((e: unknown) => e)) as RunError
    expect(err).toBeInstanceOf(RunError)
    expect(err.code).toBe(1)
    expect(err.stderr).toContain('WHARF_CLIENTS_DIR is not set')
    await dockerAnswers()
  })

  it("down leaves alone a pid that is not its folder's daemon", async () => {
    // a folder whose pid file names this run's dockerd (a reused pid, or a copied file)
    const other = await mkdtemp(join(tmpdir(), 'wharf-clients-foreign-'))
    try {
      const runPid = (await readFile(join(clients.clientsDir, 'pids/dockerd.pid'), 'utf8')).trim()
      await mkdir(join(other, 'pids'))
      await writeFile(join(other, 'pids/dockerd.pid'), `${runPid}\n`)
      const down = await run('bash', [SCRIPT, 'down'], { env: { WHARF_CLIENTS_DIR: other } })
      expect(down.stderr).toContain('not one of ours')
      expect(await alive(Number(runPid))).toBe(true)
      await dockerAnswers()
      // a folder `up` did not make is kept
      expect((await stat(other)).isDirectory()).toBe(true)
    } finally {
      await rm(other, { recursive: true, force: true })
    }
  })
})
