/**
 * `npm start` (scripts/start.ts) brings up the whole network from an empty data folder: origin, control plane and
 * one cache site registered and joined. A blob pulled from the origin is redirected to the site; a second start
 * on the same data folder comes back without registering again.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { afterAll, describe, expect, it } from 'vitest'
import { pushImage } from '../helpers/api.ts'
import { tokenFor } from '../helpers/auth.ts'
import { freePort } from '../helpers/network.ts'

const root = join(import.meta.dirname, '../..')

interface Started {
  child: ChildProcess
  output: string
}

async function startWharf(env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()))
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString()
      if (output.includes('Ctrl-C stops Wharf.')) resolve()
    })
    child.once('exit', (code) => reject(new Error(`npm start exited with ${code}:\n${output}`)))
  })
  return { child, output }
}

async function stop(s: Started): Promise<void> {
  if (s.child.exitCode !== null) return
  const exited = new Promise((r) => s.child.once('exit', r))
  s.child.kill('SIGINT')
  await exited
}

describe('npm start', () => {
  const running: Started[] = []
  let dataDir = ''

  afterAll(async () => {
    for (const s of running) await stop(s)
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
  })

  it('runs origin, control plane and a joined cache site that pulls are redirected to, across a restart', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'wharf-start-'))
    const [originPort, cpPort, cachePort] = [await freePort(), await freePort(), await freePort()]
    const env = {
      WHARF_DATA_DIR: dataDir,
      ORIGIN_LISTEN: `127.0.0.1:${originPort}`,
      CONTROL_PLANE_LISTEN: `127.0.0.1:${cpPort}`,
      CACHE_LISTEN: `127.0.0.1:${cachePort}`,
      ORIGIN_FSYNC: 'false',
      CACHE_FSYNC: 'false',
    }
    const first = await startWharf(env)
    running.push(first)
    expect(first.output).toContain(`control plane  http://127.0.0.1:${cpPort}`)
    expect(first.output).toContain(`local = http://127.0.0.1:${cachePort}`)
    const password = (await readFile(join(dataDir, 'admin-password'), 'utf8')).trim()
    expect(first.output).toContain(password)
    const admin = { username: 'admin', password }
    const origin = `http://127.0.0.1:${originPort}`

    const pushed = await pushImage(origin, 'admin/hello', admin)
    expect(pushed.status).toBe(201)
    const layer = pushed.image.blobs[0]!
    const digest = pushed.image.digest(layer)

    const pullOnce = async () => {
      const token = await tokenFor(origin, ['repository:admin/hello:pull'], admin)
      const res = await request(`${origin}/v2/admin/hello/blobs/${digest}`, { headers: { authorization: `Bearer ${token}` } })
      expect(res.statusCode).toBe(307)
      await res.body.dump()
      const location = new URL(res.headers.location as string)
      expect(location.host).toBe(`127.0.0.1:${cachePort}`)
      const followed = await request(location)
      expect(followed.statusCode).toBe(200)
      const body = Buffer.from(await followed.body.arrayBuffer())
      expect(`sha256:${createHash('sha256').update(body).digest('hex')}`).toBe(digest)
    }
    await pullOnce()

    // the API example it prints answers
    const example = /curl -u '([^:']+):([^']+)' (http:\S+)/.exec(first.output)
    expect(example, 'npm start prints a curl example of the JSON API').not.toBeNull()
    const [, user, pass, url] = example!
    const me = await request(url!, { headers: { authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` } })
    expect(me.statusCode).toBe(200)
    expect(await me.body.json()).toMatchObject({ name: 'admin' })

    await stop(first)
    const second = await startWharf(env)
    running.push(second)
    await pullOnce()
  })
})
