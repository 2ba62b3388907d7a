/**
 * `npm start`: runs Wharf on this machine with embedded defaults (SQLite and files under ./data) and prints how
 * to use it. Each program runs as its own process, exactly as `npm run <program>` would start it; Ctrl-C stops all.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { join } from 'node:path'

const root = join(import.meta.dirname, '..')
const children: ChildProcess[] = []

function start(program: string, env: Record<string, string>, readyPattern: RegExp): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', `${program}/main.ts`], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  children.push(child)
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', (line) => {
      const m = readyPattern.exec(line)
      if (m) resolve(m[1]!)
      // pino's JSON lines go to our stdout as they are, for whoever wants to read them
      else process.stdout.write(`[${program}] ${line}\n`)
    })
    child.once('exit', (code) => reject(new Error(`${program} exited with code ${code}`)))
  })
}

function stopAll(): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM')
}
process.once('SIGINT', stopAll)
process.once('SIGTERM', stopAll)

try {
  const originHost = await start(
    'origin',
    {
      ORIGIN_LISTEN: process.env.ORIGIN_LISTEN ?? '127.0.0.1:5000',
      ORIGIN_DATA_DIR: process.env.ORIGIN_DATA_DIR ?? join(root, 'data/origin'),
      ORIGIN_LOG_LEVEL: process.env.ORIGIN_LOG_LEVEL ?? 'warn',
    },
    /^WHARF_ORIGIN_READY (\S+)$/,
  )
  console.log(`
Wharf is running.

  origin   http://${originHost}   (data in ${process.env.ORIGIN_DATA_DIR ?? 'data/origin'})

Push and pull with docker (127.0.0.0/8 is an insecure registry to docker by default, so plain HTTP works):
  docker tag busybox ${originHost}/demo/busybox:1
  docker push ${originHost}/demo/busybox:1
  docker pull ${originHost}/demo/busybox:1

podman and skopeo need --tls-verify=false for plain HTTP:
  podman push --tls-verify=false ${originHost}/demo/busybox:1
  skopeo inspect --tls-verify=false docker://${originHost}/demo/busybox:1

Ctrl-C stops Wharf.`)
} catch (err) {
  console.error(`wharf: failed to start: ${(err as Error).message}`)
  stopAll()
  process.exitCode = 1
}
