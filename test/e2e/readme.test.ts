/**
 * README.md is true: every `sh`, `bash` and `console` block in it runs, in order, in one bash session, as a newcomer
 * pastes them into a terminal beside `npm start`.
 *
 * The test runs `npm start` itself, in a working folder of its own whose entries link to the repository's (so
 * `bin/wharf`, `npm run cache-node` and `data/…` mean what they mean in a checkout) with a fresh `data/`, and with
 * ports the system picks. The blocks keep the addresses a newcomer uses (127.0.0.1:5000 to 5003): the test reads
 * them with those replaced by its ports. Commands that run until Ctrl-C (`npm run cache-node`) run in the
 * background until the end of the test. podman and ctr are pointed at the private stores and daemon of
 * scripts/clients.sh. The commands that install, build or test the project itself are not run (NOT_RUN says why).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { describeWithClients, run } from '../helpers/clients.ts'
import { freePort } from '../helpers/network.ts'

const ROOT = join(import.meta.dirname, '../..')
/** The blocks together took about 25 s on the 2-core development machine; this only ends a hung run. */
const SCRIPT_LIMIT_MS = 420_000

/** Lines of the README that this test does not run, with the reason. Each must still match a line. */
const NOT_RUN: { line: RegExp; why: string }[] = [
  { line: /^npm ci && npm start\b/, why: 'npm ci would replace node_modules under the running tests; npm start is what this test starts' },
  { line: /^npm test\b/, why: 'npm test is what runs this test' },
  { line: /^npm run build\b/, why: 'the bench builds and runs dist/ (bench/lib/servers.ts); a build here would rewrite dist/ under other tests' },
  { line: /^node dist\//, why: "a second origin on npm start's address and data folder" },
  { line: /^npm run (typecheck|lint)\b/, why: 'npm test runs both before the tests' },
  { line: /^npx vitest run\b/, why: 'npm test runs vitest' },
]

/** Commands that run until Ctrl-C, and the line each prints when it is ready. */
const SERVERS: { command: RegExp; ready: string }[] = [{ command: /npm run cache-node\s*$/, ready: 'WHARF_CACHE_READY' }]

interface Block {
  line: number
  text: string
}

function shellBlocks(readme: string): Block[] {
  const blocks: Block[] = []
  const re = /^```(sh|bash|console)\n([\s\S]*?)^```$/gm
  for (let m = re.exec(readme); m; m = re.exec(readme)) {
    blocks.push({ line: readme.slice(0, m.index).split('\n').length, text: m[2]! })
  }
  return blocks
}

describeWithClients('README.md', (clients) => {
  let work = ''
  let wharf: ChildProcess | undefined
  let output = ''

  afterAll(async () => {
    // the background servers the blocks started, each in a process group of its own (setsid)
    const pids = await readFile(join(work, 'server-pids'), 'utf8').catch(() => '')
    for (const pid of pids.split('\n').filter(Boolean)) {
      try {
        process.kill(-Number(pid), 'SIGTERM')
      } catch {
        // already gone
      }
    }
    if (wharf?.pid && wharf.exitCode === null) {
      const exited = new Promise((r) => wharf!.once('exit', r))
      process.kill(-wharf.pid, 'SIGINT') // npm, scripts/start.ts and the three programs
      await exited
    }
    if (ports[5000]) await run('docker', ['rmi', '-f', `127.0.0.1:${ports[5000]}/admin/hello:1`]).catch(() => undefined)
    if (work) await rm(work, { recursive: true, force: true })
  })

  let ports: Record<string, number> = {}

  it('every shell block runs against npm start', { timeout: 600_000 }, async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
    const blocks = shellBlocks(readme)
    expect(blocks.length).toBeGreaterThan(5)

    work = await mkdtemp(join(tmpdir(), 'wharf-readme-'))
    for (const entry of await readdir(ROOT)) {
      if (entry === 'data' || entry.startsWith('.')) continue
      await symlink(join(ROOT, entry), join(work, entry))
    }
    ports = { 5000: await freePort(), 5001: await freePort(), 5002: await freePort(), 5003: await freePort() }

    wharf = spawn('npm', ['start'], {
      cwd: work,
      env: {
        ...process.env,
        WHARF_DATA_DIR: join(work, 'data'),
        ORIGIN_LISTEN: `127.0.0.1:${ports[5000]}`,
        CACHE_LISTEN: `127.0.0.1:${ports[5001]}`,
        CONTROL_PLANE_LISTEN: `127.0.0.1:${ports[5002]}`,
        ORIGIN_FSYNC: 'false',
        CACHE_FSYNC: 'false',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    })
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer) => {
        output += d.toString()
        if (output.includes('Ctrl-C stops Wharf.')) resolve()
      }
      wharf!.stdout!.on('data', onData)
      wharf!.stderr!.on('data', onData)
      wharf!.once('exit', (code) => reject(new Error(`npm start exited with ${code}:\n${output}`)))
    })

    const unused = new Set(NOT_RUN)
    const script = [
      'set -euo pipefail',
      // podman and ctr with the private stores and daemon of scripts/clients.sh
      `podman() { command podman ${clients.podmanFlags.map((f) => `'${f}'`).join(' ')} "$@"; }`,
      `export CONTAINERD_ADDRESS='${clients.containerdSock}'`,
      // a command that runs until Ctrl-C: in the background (its own process group), until it says it is ready
      'serve() {',
      '  local log=$1 ready=$2; shift 2',
      '  setsid "$@" >"$log" 2>&1 </dev/null & echo $! >>server-pids',
      '  for _ in $(seq 1200); do grep -q "$ready" "$log" && return 0; sleep 0.1; done',
      '  cat "$log" >&2; return 1',
      '}',
    ]
    blocks.forEach((b, i) => {
      let text = b.text.replace(/127\.0\.0\.1:(500[0-3])\b/g, (_, p: string) => `127.0.0.1:${ports[p]}`)
      text = text
        .split('\n')
        .map((l) => {
          const skip = NOT_RUN.find((n) => n.line.test(l))
          if (!skip) return l
          unused.delete(skip)
          // a comment: nothing of the line can run
          return `# not run here: ${skip.why.replace(/\n/g, ' ')}`
        })
        .join('\n')
      for (const s of SERVERS) text = text.replace(new RegExp(s.command.source, 'm'), (cmd) => `serve block${i}.log ${s.ready} ${cmd}`)
      script.push(`echo '=== README.md block at line ${b.line}' >&2`, 'set -x', text, 'set +x')
    })
    expect([...unused].map((n) => n.line.source), 'NOT_RUN entries that match no README line').toEqual([])

    const result = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn('bash', ['-c', script.join('\n')], { cwd: work, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      child.stdout.on('data', (d: Buffer) => (out += d.toString()))
      child.stderr.on('data', (d: Buffer) => (out += d.toString()))
      // a block that never ends (a command waiting for input) fails the test with the output so far
      const stuck = setTimeout(() => child.kill('SIGKILL'), SCRIPT_LIMIT_MS)
      child.on('close', (code) => {
        clearTimeout(stuck)
        resolve({ code, out })
      })
    })
    expect(result.code, `README blocks failed:\n${result.out.split('\n').slice(-80).join('\n')}`).toBe(0)

    // what the blocks did, seen from outside
    expect(result.out).toMatch(/Login Succeeded/)
    expect(result.out).toMatch(/created site eu-west/)
    expect(result.out).toMatch(/"role":\s*"read"/)
    const reportJson = result.out.match(/^\{"from".*$/m)?.[0]
    expect(reportJson, 'the bandwidth report curl printed JSON').toBeDefined()
    // the second node joined as eu-west
    const wharfTool = (args: string[]) =>
      run(join(work, 'bin/wharf'), args, {
        cwd: work,
        env: { WHARF_CONTROL_PLANE_URL: `http://127.0.0.1:${ports[5002]}`, WHARF_USERNAME: 'admin', WHARF_PASSWORD: password },
      })
    const password = (await readFile(join(work, 'data/admin-password'), 'utf8')).trim()
    const site = JSON.parse((await wharfTool(['sites', 'show', 'eu-west', '--json'])).stdout)
    expect(site).toMatchObject({ name: 'eu-west', url: `http://127.0.0.1:${ports[5003]}`, longitude: -6.26 })
    // the pulls through the site "local" reach the report one delivery later (npm start: every 10 s)
    let served = 0
    for (let i = 0; i < 120 && served === 0; i++) {
      const report = JSON.parse((await wharfTool(['report', '--granularity', 'hour', '--site', 'local', '--repository', 'admin/hello', '--json'])).stdout)
      served = (report.rows as { bytesServed: number }[]).reduce((n, r) => n + r.bytesServed, 0)
      if (served === 0) await new Promise((r) => setTimeout(r, 1000))
    }
    expect(served, 'bytes served through site local, in the bandwidth report').toBeGreaterThan(0)
  })
})
