/**
 * `npm start`: runs Wharf on this machine with embedded defaults (SQLite and files under ./data) and prints how
 * to use it. Each program runs as its own process, exactly as `npm run <program>` would start it; Ctrl-C stops all.
 *
 * For this local network the first admin's password is generated once and kept in data/admin-password (mode
 * 0600) so every start can print it; a production origin prints a generated password once, or takes
 * ORIGIN_ADMIN_PASSWORD.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { join, resolve } from 'node:path'

const root = join(import.meta.dirname, '..')
const dataDir = resolve(process.env.WHARF_DATA_DIR ?? join(root, 'data'))
const originDataDir = process.env.ORIGIN_DATA_DIR ?? join(dataDir, 'origin')
const children: ChildProcess[] = []

function start(program: string, env: Record<string, string>, readyPattern: RegExp): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', `${program}/main.ts`], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  children.push(child)
  return new Promise((resolveReady, reject) => {
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', (line) => {
      const m = readyPattern.exec(line)
      if (m) resolveReady(m[1]!)
      // credentials the program prints are shown by this script in its own words, never echoed raw
      else if (!line.startsWith('WHARF_ADMIN_CREDENTIALS')) process.stdout.write(`[${program}] ${line}\n`)
    })
    child.once('exit', (code) => reject(new Error(`${program} exited with code ${code}`)))
  })
}

function stopAll(): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM')
}
process.once('SIGINT', stopAll)
process.once('SIGTERM', stopAll)

/** The admin password to print: given, kept from an earlier `npm start`, or new for a fresh data folder. */
function adminPassword(): { password?: string; note: string } {
  if (process.env.ORIGIN_ADMIN_PASSWORD) return { password: process.env.ORIGIN_ADMIN_PASSWORD, note: 'from ORIGIN_ADMIN_PASSWORD' }
  const file = join(dataDir, 'admin-password')
  if (existsSync(file)) return { password: readFileSync(file, 'utf8').trim(), note: `kept in ${file}` }
  if (existsSync(join(originDataDir, 'origin.db'))) {
    return { note: 'this data folder was made without npm start: use the password the origin printed when it was created' }
  }
  mkdirSync(dataDir, { recursive: true })
  const password = randomBytes(15).toString('base64url')
  writeFileSync(file, `${password}\n`, { mode: 0o600 })
  return { password, note: `kept in ${file}` }
}

try {
  const admin = adminPassword()
  const originHost = await start(
    'origin',
    {
      ORIGIN_LISTEN: process.env.ORIGIN_LISTEN ?? '127.0.0.1:5000',
      ORIGIN_DATA_DIR: originDataDir,
      ORIGIN_LOG_LEVEL: process.env.ORIGIN_LOG_LEVEL ?? 'warn',
      ...(admin.password ? { ORIGIN_ADMIN_PASSWORD: admin.password } : {}),
    },
    /^WHARF_ORIGIN_READY (\S+)$/,
  )
  const cacheHost = await start(
    'cache-node',
    {
      CACHE_LISTEN: process.env.CACHE_LISTEN ?? '127.0.0.1:5001',
      CACHE_DATA_DIR: process.env.CACHE_DATA_DIR ?? join(dataDir, 'cache'),
      CACHE_ORIGIN_URL: `http://${originHost}`,
      CACHE_LOG_LEVEL: process.env.CACHE_LOG_LEVEL ?? 'warn',
    },
    /^WHARF_CACHE_READY (\S+)$/,
  )
  const user = process.env.ORIGIN_ADMIN_USER ?? 'admin'
  const pw = admin.password ?? '<admin password>'
  console.log(`
Wharf is running.

  origin   http://${originHost}   (data in ${originDataDir})
  cache    http://${cacheHost}   (a pull-through cache of the origin; data in ${process.env.CACHE_DATA_DIR ?? join(dataDir, 'cache')})
  admin    ${user} / ${admin.password ?? '(not shown)'}   (${admin.note})

Log in and push with docker (127.0.0.0/8 is an insecure registry to docker by default, so plain HTTP works):
  echo '${pw}' | docker login ${originHost} -u ${user} --password-stdin
  mkdir -p hello && echo hello > hello/hello.txt && printf 'FROM scratch\\nCOPY hello.txt /\\n' > hello/Dockerfile
  DOCKER_BUILDKIT=0 docker build -t ${originHost}/${user}/hello:1 hello
  docker push ${originHost}/${user}/hello:1
  docker pull ${originHost}/${user}/hello:1

Pull the same image through the cache (log in there with the same credentials; tokens come from the origin):
  echo '${pw}' | docker login ${cacheHost} -u ${user} --password-stdin
  docker pull ${cacheHost}/${user}/hello:1
  curl -s http://${cacheHost}/metrics | grep wharf_cache_bytes

podman and skopeo need --tls-verify=false for plain HTTP:
  echo '${pw}' | podman login --tls-verify=false ${originHost} -u ${user} --password-stdin
  skopeo inspect --tls-verify=false docker://${originHost}/${user}/hello:1

Users, organizations, teams, repositories and tokens: the JSON API at http://${originHost}/api/v0/ (README.md).

Ctrl-C stops Wharf.`)
} catch (err) {
  console.error(`wharf: failed to start: ${(err as Error).message}`)
  stopAll()
  process.exitCode = 1
}
