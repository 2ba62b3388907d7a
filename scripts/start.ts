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
import { parseBearerChallenge } from '../oci/challenge.ts'

const root = join(import.meta.dirname, '..')
const dataDir = resolve(process.env.WHARF_DATA_DIR ?? join(root, 'data'))
const originDataDir = process.env.ORIGIN_DATA_DIR ?? join(dataDir, 'origin')
const children: ChildProcess[] = []
/** How often the local cache delivers its counters (CONTROL_PLANE_METRICS_INTERVAL; 60s outside npm start). */
const LOCAL_METRICS_INTERVAL = '10s'

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

/** An admin token for the control plane, from the origin's token service (as the wharf tool gets one). */
async function adminToken(originUrl: string, username: string, password: string): Promise<string> {
  const ping = await fetch(`${originUrl}/v2/`)
  const challenge = parseBearerChallenge(ping.headers.get('www-authenticate'))
  if (!challenge) throw new Error(`the origin at ${originUrl} did not answer /v2/ with a bearer challenge`)
  const qs = new URLSearchParams({ service: challenge.service ?? '', scope: 'controlplane:admin:*' })
  const res = await fetch(`${challenge.realm}?${qs}`, {
    headers: { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` },
  })
  const body = (await res.json()) as { token?: string }
  if (!res.ok || !body.token) throw new Error(`the origin refused the admin login (${res.status})`)
  return body.token
}

/** Registers this machine's cache as site "local", the default site, and returns a one-use join token for it. */
async function registerLocalSite(o: { token: string; controlPlaneUrl: string; siteUrl: string }): Promise<string> {
  const { token } = o
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${o.controlPlaneUrl}/api/v0${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> }
  }
  const existing = await call('GET', '/sites/local')
  if (existing.status === 404) {
    const created = await call('POST', '/sites', { name: 'local', url: o.siteUrl, region: 'local', isDefault: true })
    if (created.status !== 201) throw new Error(`registering site "local" failed: ${created.status} ${JSON.stringify(created.body)}`)
  } else if (existing.status !== 200) {
    throw new Error(`the control plane answered ${existing.status} for site "local": ${JSON.stringify(existing.body)}`)
  }
  const join = await call('POST', '/join-tokens', { site: 'local', uses: 1, expiresIn: 600 })
  if (join.status !== 201 || typeof join.body.token !== 'string') throw new Error(`creating a join token failed: ${join.status}`)
  return join.body.token
}

/** Waits until the control plane has heard from the site (its first heartbeat), so the first pull is redirected. */
async function waitForSiteUp(o: { token: string; controlPlaneUrl: string }): Promise<boolean> {
  const { token } = o
  for (let i = 0; i < 150; i++) {
    const res = await fetch(`${o.controlPlaneUrl}/api/v0/sites/local`, { headers: { authorization: `Bearer ${token}` } })
    const site = (await res.json()) as { health?: { state?: string } }
    if (site.health?.state === 'up') return true
    await new Promise((r) => setTimeout(r, 200))
  }
  return false
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
      ORIGIN_CONTROL_PLANE_URL: process.env.ORIGIN_CONTROL_PLANE_URL ?? `http://${process.env.CONTROL_PLANE_LISTEN ?? '127.0.0.1:5002'}`,
    },
    /^WHARF_ORIGIN_READY (\S+)$/,
  )
  const cpListen = process.env.CONTROL_PLANE_LISTEN ?? '127.0.0.1:5002'
  const controlPlaneHost = await start(
    'control-plane',
    {
      CONTROL_PLANE_LISTEN: cpListen,
      CONTROL_PLANE_DATA_DIR: process.env.CONTROL_PLANE_DATA_DIR ?? join(dataDir, 'control-plane'),
      CONTROL_PLANE_ORIGIN_URL: `http://${originHost}`,
      CONTROL_PLANE_LOG_LEVEL: process.env.CONTROL_PLANE_LOG_LEVEL ?? 'warn',
      // counters reach the report one delivery after the pull: every 10 s here rather than every minute
      CONTROL_PLANE_METRICS_INTERVAL: process.env.CONTROL_PLANE_METRICS_INTERVAL ?? LOCAL_METRICS_INTERVAL,
    },
    /^WHARF_CONTROL_PLANE_READY (\S+)$/,
  )
  const user = process.env.ORIGIN_ADMIN_USER ?? 'admin'
  const cacheListen = process.env.CACHE_LISTEN ?? '127.0.0.1:5001'
  const cacheDataDir = process.env.CACHE_DATA_DIR ?? join(dataDir, 'cache')
  // the first start registers the cache as site "local" (the default site: every pull is redirected to it) and
  // hands the node a join token; later starts reuse the identity the node keeps in its data folder
  // one admin login for what this script asks of the control plane
  const token = admin.password ? await adminToken(`http://${originHost}`, user, admin.password) : undefined
  let joinToken: string | undefined
  if (!existsSync(join(cacheDataDir, 'site.json'))) {
    if (!token) throw new Error('the cache site cannot be registered without the admin password (set ORIGIN_ADMIN_PASSWORD)')
    joinToken = await registerLocalSite({ token, controlPlaneUrl: `http://${controlPlaneHost}`, siteUrl: `http://${cacheListen}` })
  }
  const cacheHost = await start(
    'cache-node',
    {
      CACHE_LISTEN: cacheListen,
      CACHE_DATA_DIR: cacheDataDir,
      CACHE_ORIGIN_URL: `http://${originHost}`,
      CACHE_CONTROL_PLANE_URL: `http://${controlPlaneHost}`,
      ...(joinToken ? { CACHE_JOIN_TOKEN: joinToken } : {}),
      CACHE_LOG_LEVEL: process.env.CACHE_LOG_LEVEL ?? 'warn',
    },
    /^WHARF_CACHE_READY (\S+)$/,
  )
  const pw = admin.password ?? '<admin password>'
  if (token) {
    const up = await waitForSiteUp({ token, controlPlaneUrl: `http://${controlPlaneHost}` })
    if (!up) console.warn('wharf: the cache site has not sent a heartbeat yet; pulls are served by the origin until it does')
  }
  console.log(`
Wharf is running.

  web UI         http://${originHost}/   (sign in as the admin below)
  origin         http://${originHost}   (data in ${originDataDir})
  control plane  http://${controlPlaneHost}   (sites, assignment, reports)
  cache site     local = http://${cacheHost}   (the default site: blob pulls from the origin are redirected to it)
  admin          ${user} / ${admin.password ?? '(not shown)'}   (${admin.note})
  data           ${dataDir}

Log in and push with docker (127.0.0.0/8 is an insecure registry to docker by default, so plain HTTP works):
  echo '${pw}' | docker login ${originHost} -u ${user} --password-stdin
  mkdir -p hello && echo hello > hello/hello.txt && printf 'FROM scratch\\nCOPY hello.txt /\\n' > hello/Dockerfile
  DOCKER_BUILDKIT=0 docker build -t ${originHost}/${user}/hello:1 hello
  docker push ${originHost}/${user}/hello:1

Pull: the manifest comes from the origin, the layers from the cache site (a 307 with a signed grant):
  docker rmi ${originHost}/${user}/hello:1 && docker pull ${originHost}/${user}/hello:1
  curl -s http://${cacheHost}/metrics | grep wharf_cache_bytes_to_clients_total

Sites, assignment and the bandwidth report (a pull is counted there within ${process.env.CONTROL_PLANE_METRICS_INTERVAL ?? LOCAL_METRICS_INTERVAL}) with the wharf tool:
  export WHARF_CONTROL_PLANE_URL=http://${controlPlaneHost} WHARF_USERNAME=${user} WHARF_PASSWORD='${pw}'
  bin/wharf sites list
  bin/wharf assign resolve --user ${user} --address 127.0.0.1
  bin/wharf report --granularity hour
  bin/wharf client-config local --client containerd

podman and skopeo need --tls-verify=false for plain HTTP:
  echo '${pw}' | podman login --tls-verify=false ${originHost} -u ${user} --password-stdin
  skopeo inspect --tls-verify=false docker://${originHost}/${user}/hello:1

Users, organizations, teams, repositories and tokens: the JSON API under http://${originHost}/api/v0/ (README.md), e.g.
  curl -u '${user}:${pw}' http://${originHost}/api/v0/me

Ctrl-C stops Wharf.`)
} catch (err) {
  console.error(`wharf: failed to start: ${(err as Error).message}`)
  stopAll()
  process.exitCode = 1
}
