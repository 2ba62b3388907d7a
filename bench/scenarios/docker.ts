/** Scenario 7: docker pull of a real Debian image (mmdebstrap). */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { importImage, type DebianImage } from '../lib/debian-image.ts'
import { waitQuiet } from '../lib/proc.ts'
import { note } from '../lib/report.ts'
import { commandVersion, dockerClients } from '../lib/tools.ts'
import { round } from '../lib/units.ts'
import { type Side, SIDES, type Options, type Pair, extra, record, sortedSides } from './context.ts'

export async function dockerPulls(
  opts: Options,
  pairs: Record<Side, Pair>,
  image: DebianImage | undefined,
  imageMissing: string | undefined,
): Promise<void> {
  if (!image) {
    extra.dockerMissing = imageMissing ?? 'no image'
    return
  }
  const up = await dockerClients(note)
  if (!up.ok) {
    extra.dockerMissing = up.reason
    note(`docker pull scenario skipped: ${up.reason}`)
    return
  }
  const configDir = mkdtempSync(join(tmpdir(), 'wharf-bench-docker-'))
  const env = { ...process.env, DOCKER_HOST: up.env.DOCKER_HOST!, DOCKER_CONFIG: configDir }
  const docker = (args: string[], input?: string) =>
    new Promise<string>((resolveRun, reject) => {
      const child = execFile(
        'docker',
        args,
        { env, timeout: 10 * 60_000, maxBuffer: 16 << 20 },
        (err, stdout, stderr) =>
          err ? reject(new Error(`docker ${args.join(' ')}: ${stderr || err.message}`)) : resolveRun(stdout),
      )
      child.stdin?.end(input ?? '')
    })
  extra.dockerVersion = await commandVersion('docker', ['--version'])
  const repo = 'admin/debian'
  const tag = image.suite
  const refs: { id: string; side: Side; ref: string }[] = []
  try {
    for (const side of SIDES) {
      const p = pairs[side]
      await importImage(p.originClient, repo, tag, image)
      for (const s of [p.origin, p.cache]) {
        if (!s) continue
        const host = new URL(s.url).host
        if (s.credentials)
          await docker(['login', '-u', s.credentials.username, '--password-stdin', host], s.credentials.password)
        refs.push({ id: s === p.origin ? 'docker.origin' : 'docker.cache', side, ref: `${host}/${repo}:${tag}` })
      }
    }
    const clean = async () => {
      // every ref names the same image: remove them all, or the next pull finds its layer already there
      for (const r of refs) await docker(['rmi', '-f', r.ref]).catch(() => undefined)
    }
    // warm-up: one pull of each ref (this also warms the caches), not counted
    for (const r of refs) {
      await clean()
      await docker(['pull', '-q', r.ref])
    }
    for (const side of SIDES) {
      const p = pairs[side]
      await waitQuiet(p.origin.pid, 500, 60_000)
      if (p.cache) await waitQuiet(p.cache.pid, 500, 60_000)
    }
    for (let r = 0; r < opts.dockerRounds; r++) {
      for (const side of sortedSides(r)) {
        for (const ref of refs.filter((x) => x.side === side)) {
          await clean()
          const t0 = performance.now()
          await docker(['pull', '-q', ref.ref])
          const s = (performance.now() - t0) / 1000
          record(ref.id, side, s)
          note(`${side} docker pull ${ref.ref}: ${round(s, 2)} s`)
        }
      }
    }
    await clean()
  } catch (err) {
    extra.dockerError = (err as Error).message.slice(0, 500)
    note(`docker pull scenario failed: ${(err as Error).message.slice(0, 500)}`)
  } finally {
    rmSync(configDir, { recursive: true, force: true })
  }
  extra.dockerImage = { layer: image.layer.digest, layerBytes: image.layer.size, rootfsBytes: image.rootfsBytes }
}
