/**
 * `npm run bench:fuzz [-- --requests 10000] [--seed 1]`: generated requests against all three programs (origin,
 * cache node, control plane; compiled, on loopback), to show that malformed input gets a 4xx, never a 5xx, a crash
 * or a hang. The cases are in bench/lib/fuzz-cases.ts: repository names (valid, too long, unicode, `..`, `%2e%2e`,
 * encoded slashes, NUL), references and digests (malformed, other algorithms, uppercase, overlong), digests in query
 * strings, Range headers, upload sequences in right and wrong orders, manifests, credentials (malformed, forged),
 * scopes, /auth/token forms, JSON bodies for every /api/v0 endpoint of the origin and the control plane, the
 * control plane's node endpoints, and raw HTTP. Each case draws from a PRNG seeded with (seed, case number), so a run
 * is reproducible and `--case K` replays one case, printing each request and answer.
 *
 * Set-up: the origin trusts 127.0.0.1 as a proxy (ORIGIN_TRUSTED_PROXIES) and every fuzz request to it carries an
 * X-Forwarded-For address of its case, so failed logins lock out those addresses and not the harness, whose own
 * good logins come from one address of their own. Tokens live an hour (ORIGIN_TOKEN_TTL=1h). The control plane runs
 * standalone with the origin; the harness registers a site and joins it as a node (holding its credential), and
 * the cache node stands in front of the origin.
 *
 * Reported (targets 0, 0, 0): answers with a 5xx status (each listed with method, path, status and body,
 * deduplicated), crashes (a program's process exits; checked after every batch and at the end), hangs (no answer
 * within --timeout, 30 s). Also listed: connections closed without an answer to a complete request, answers that
 * are wrong beyond their status (a forged credential accepted, wrong bytes for a range), and the error lines the
 * programs logged. At the end each program must still answer a normal request. Prints Markdown on stdout and writes
 * bench/results/fuzz-<date>.json. Exits 1 when a target is missed.
 *
 * Options: --requests N (10000), --seed S (1), --concurrency N (8), --timeout 30 (seconds), --case K[,K...], --keep,
 *   --committed (build and run HEAD's programs, from a `git archive` snapshot, instead of the working tree's)
 */
import { createHash, createPublicKey, type JsonWebKey } from 'node:crypto'
import { subscribe } from 'node:diagnostics_channel'
import type { Socket } from 'node:net'
import { readFile, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { parseArgs } from 'node:util'
import { Pool, type Dispatcher } from 'undici'
import {
  FAMILIES,
  FUZZ_REPOS,
  forgeTokens,
  type CaseCtx,
  type FuzzEnv,
  type FuzzReq,
  type FuzzRes,
  type KnownBlob,
  type KnownManifest,
  type TargetName,
} from './lib/fuzz-cases.ts'
import { Rng } from './lib/prng.ts'
import { rawRequest } from './lib/raw-http.ts'
import { machineInfo, markdownTable, note, runHeader } from './lib/report.ts'
import {
  freePort,
  programsRoot,
  REPO_ROOT,
  startWharfCache,
  startWharfControlPlane,
  startWharfOrigin,
  useCommittedPrograms,
  type BenchServer,
} from './lib/servers.ts'
import { round } from './lib/units.ts'
import { parseBearerChallenge } from '../oci/challenge.ts'

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json'
const BATCH = 250

interface Options {
  requests: number
  seed: string
  concurrency: number
  timeoutMs: number
  cases: number[] | undefined
  keep: boolean
  committed: boolean
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      requests: { type: 'string', default: '10000' },
      seed: { type: 'string', default: '1' },
      concurrency: { type: 'string', default: '8' },
      timeout: { type: 'string', default: '30' },
      case: { type: 'string' },
      keep: { type: 'boolean', default: false },
      committed: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    console.log(
      'usage: npm run bench:fuzz -- [--requests 10000] [--seed 1] [--concurrency 8] [--timeout 30] [--case K[,K...]] [--keep] [--committed]',
    )
    process.exit(0)
  }
  const int = (name: string, v: string, min: number): number => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number >= ${min}`)
    return n
  }
  return {
    requests: int('requests', values.requests, 1),
    seed: values.seed,
    concurrency: int('concurrency', values.concurrency, 1),
    timeoutMs: int('timeout', values.timeout, 1) * 1000,
    cases: values.case?.split(',').map((x) => int('case', x.trim(), 0)),
    keep: values.keep,
    committed: values.committed,
  }
}

// ------------------------------------------------------------------------------------------------ findings

/** 'none due': no answer where none is owed (a body deliberately shorter than its length, CONNECT). */
type Klass = '2xx' | '3xx' | '4xx' | '5xx' | 'no answer' | 'none due' | 'hang'
const KLASSES: Klass[] = ['2xx', '3xx', '4xx', '5xx', 'no answer', 'none due', 'hang']

interface Example {
  case: number
  family: string
  target: TargetName
  method: string
  path: string
  headers: Record<string, string>
  body: string
  mode: 'undici' | 'raw'
  status: number
  outcome: string
  response: string
  ms: number
}

interface Finding {
  kind: '5xx' | 'hang' | 'no answer' | 'closed connection' | 'wrong answer' | 'crash' | 'final check'
  key: string
  count: number
  cases: number[]
  example: Example | { detail: string }
}

const findings = new Map<string, Finding>()
const counts = {
  byTarget: new Map<string, Record<Klass, number>>(),
  byFamily: new Map<string, Record<Klass, number>>(),
  statuses: new Map<string, number>(),
}
let sent = 0
let rawSent = 0
/** Requests whose undici connection closed without an answer, asked again over a fresh raw connection. */
const closedThenAsked = { count: 0, answered: 0, parser: 0, examples: [] as string[] }

/**
 * An answer written below the application, to a request the HTTP parser refused (the programs' clientError handler,
 * or Node's): a 4xx/5xx with Connection: close and without the Date header every answer of Node's ServerResponse has.
 */
function parserAnswer(res: FuzzRes): boolean {
  return (
    [400, 408, 413, 414, 431, 501, 505].includes(res.status) &&
    /close/i.test(res.headers.connection ?? '') &&
    res.headers.date === undefined
  )
}

/** A path reduced to its route: the registry's name and reference folded, the API's first segments kept. */
function route(path: string): string {
  const p = path.split('?')[0]!
  if (p.startsWith('/v2/')) {
    const m = /\/(manifests|blobs\/uploads|blobs|tags\/list|referrers)(?:\/|$)/.exec(p)
    if (p === '/v2/' || p === '/v2') return '/v2/'
    if (p.startsWith('/v2/_catalog')) return '/v2/_catalog'
    return m ? `/v2/<name>/${m[1]}${m[1] === 'tags/list' ? '' : '/…'}` : '/v2/<other>'
  }
  if (p.startsWith('/api/v0/')) return `/api/v0/${p.slice(8).split('/').slice(0, 1).join('/')}/…`
  return p.length > 40 ? `${p.slice(0, 40)}…` : p
}

// which kept-alive connection each request went out on (undici's diagnostics channel sees the socket), so a request
// that finds its connection closed can name the request before it on that connection
const SEQ_HEADER = 'x-fuzz-seq'
const socketOf = new Map<number, Socket>()
const sequenceOn = new WeakMap<Socket, number[]>()
const recent = new Map<number, { text: string; shape: string }>()
subscribe('undici:client:sendHeaders', (message) => {
  const { headers, socket } = message as { headers: string; socket: Socket }
  const m = /\r\nx-fuzz-seq: (\d+)\r\n/i.exec(`\r\n${headers}`)
  if (!m) return
  const seq = Number(m[1])
  socketOf.set(seq, socket)
  const list = sequenceOn.get(socket) ?? []
  list.push(seq)
  if (list.length > 50) list.shift()
  sequenceOn.set(socket, list)
})

/** The request that went out before `seq` on the same connection, as recorded in `recent`. */
function previousOnConnection(seq: number): { text: string; shape: string } | undefined {
  const socket = socketOf.get(seq)
  const list = socket ? sequenceOn.get(socket) : undefined
  const i = list?.indexOf(seq) ?? -1
  if (!list || i <= 0) return undefined
  return recent.get(list[i - 1]!) ?? { text: `request #${list[i - 1]}`, shape: 'an unrecorded request' }
}

function bump(map: Map<string, Record<Klass, number>>, key: string, k: Klass): void {
  const row = map.get(key) ?? (Object.fromEntries(KLASSES.map((x) => [x, 0])) as Record<Klass, number>)
  row[k]++
  map.set(key, row)
}

/** The shape of a path or body for deduplication: ids, digests, numbers and long runs folded. */
function shape(text: string): string {
  return text
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<id>')
    .replace(/[0-9a-fA-F]{16,}/g, '<hex>')
    .replace(/[A-Za-z0-9_-]{40,}/g, '<b64>')
    .replace(/\d{3,}/g, '<n>')
    .replace(/(.)\1{15,}/g, '$1…')
    .slice(0, 160)
}

function addFinding(kind: Finding['kind'], key: string, caseIndex: number, example: Finding['example']): void {
  const k = `${kind} ${key}`
  const f = findings.get(k)
  if (f) {
    f.count++
    if (f.cases.length < 20 && !f.cases.includes(caseIndex)) f.cases.push(caseIndex)
    return
  }
  findings.set(k, { kind, key, count: 1, cases: [caseIndex], example })
}

// ------------------------------------------------------------------------------------------------ sending

interface Runner {
  env: FuzzEnv
  pools: Record<TargetName, Pool>
  timeoutMs: number
  verbose: boolean
  secrets: [string, string][]
}

const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const UNDICI_FORBIDDEN = new Set(['transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'expect', 'host'])

/** Requests undici will not send as they are go out over a raw socket instead. */
function needsRaw(req: FuzzReq): boolean {
  if (!req.path.startsWith('/') || /[^\u0021-\u00ff]/.test(req.path)) return true
  if (!TOKEN_RE.test(req.method) || req.method.toUpperCase() === 'CONNECT') return true
  for (const [k, v] of Object.entries(req.headers ?? {})) {
    if (UNDICI_FORBIDDEN.has(k.toLowerCase()) || !TOKEN_RE.test(k) || /[^\t\x20-\x7e\x80-\xff]/.test(v)) return true
  }
  return false
}

function rawBytes(req: FuzzReq, host: string): Buffer {
  const body = req.body === undefined ? Buffer.alloc(0) : Buffer.from(req.body)
  const lines = [`${req.method} ${req.path} HTTP/1.1`, `Host: ${host}`]
  for (const [k, v] of Object.entries(req.headers ?? {})) lines.push(`${k}: ${v}`)
  if (req.chunked && body.length) lines.push('Transfer-Encoding: chunked')
  else if (body.length || ['POST', 'PUT', 'PATCH'].includes(req.method)) lines.push(`Content-Length: ${body.length}`)
  lines.push('Connection: close')
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8')
  const framed =
    req.chunked && body.length
      ? Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')])
      : body
  return Buffer.concat([head, framed])
}

function errCode(err: unknown): string {
  const e = err as { code?: string; name?: string; cause?: { code?: string } }
  return e.code ?? e.cause?.code ?? e.name ?? 'error'
}

async function sendUndici(r: Runner, req: FuzzReq): Promise<FuzzRes> {
  const t0 = performance.now()
  const body = req.body === undefined ? undefined : Buffer.from(req.body)
  const opts: Dispatcher.RequestOptions = {
    path: req.path,
    method: req.method as Dispatcher.HttpMethod,
    headers: req.headers ?? {},
    headersTimeout: r.timeoutMs,
    bodyTimeout: r.timeoutMs,
    signal: AbortSignal.timeout(r.timeoutMs + 5000),
  }
  if (body !== undefined) {
    // a stream without a length goes out chunked
    opts.body = req.chunked ? Readable.from([body]) : body
  }
  const res = await r.pools[req.target].request(opts)
  const chunks: Buffer[] = []
  let have = 0
  try {
    for await (const chunk of res.body) {
      const c = chunk as Buffer
      if (have < 256 * 1024) chunks.push(c)
      have += c.byteLength
      if (have >= 4 * 1024 * 1024) {
        res.body.destroy()
        break
      }
    }
  } catch (err) {
    const code = errCode(err)
    const headers = flatHeaders(res.headers)
    return {
      status: res.statusCode,
      headers,
      body: Buffer.concat(chunks),
      outcome: code.includes('TIMEOUT') || code === 'TimeoutError' ? 'timeout' : 'answer',
      error: `body: ${code}`,
      ms: performance.now() - t0,
    }
  }
  return {
    status: res.statusCode,
    headers: flatHeaders(res.headers),
    body: Buffer.concat(chunks).subarray(0, 256 * 1024),
    outcome: 'answer',
    ms: performance.now() - t0,
  }
}

function flatHeaders(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v
  return out
}

async function send(r: Runner, req: FuzzReq, caseIndex: number, family: string, xff: string): Promise<FuzzRes> {
  const seq = ++sent
  if (!req.raw) req = { ...req, headers: { ...req.headers, [SEQ_HEADER]: String(seq) } }
  if (
    req.target === 'origin' &&
    !req.raw &&
    !Object.keys(req.headers ?? {}).some((k) => k.toLowerCase() === 'x-forwarded-for')
  ) {
    req = { ...req, headers: { ...req.headers, 'x-forwarded-for': xff } }
  }
  let mode: 'undici' | 'raw' = req.raw || needsRaw(req) ? 'raw' : 'undici'
  let res: FuzzRes | undefined
  const t0 = performance.now()
  if (mode === 'undici') {
    try {
      res = await sendUndici(r, req)
    } catch (err) {
      const code = errCode(err)
      if (
        code === 'UND_ERR_INVALID_ARG' ||
        code === 'UND_ERR_NOT_SUPPORTED' ||
        code === 'InvalidArgumentError' ||
        code === 'ERR_INVALID_URL'
      )
        mode = 'raw'
      else {
        const timeout = code.includes('TIMEOUT') || code === 'TimeoutError' || code === 'AbortError'
        res = {
          status: 0,
          headers: {},
          body: Buffer.alloc(0),
          outcome: timeout ? 'timeout' : 'closed',
          error: `${code}: ${(err as Error).message}`,
          ms: performance.now() - t0,
        }
      }
    }
  }
  let closedOn: { what: string; before: { text: string; shape: string } } | undefined
  if (mode === 'undici' && res && res.outcome === 'closed' && !req.incomplete) {
    // undici saw the connection close: ask again on a fresh connection of its own, so the answer (or its absence)
    // belongs to this request and not to whatever went before on a kept-alive connection
    const before = previousOnConnection(seq) ?? { text: 'none (a new connection)', shape: 'nothing (a new connection)' }
    closedOn = {
      what: `${req.target} ${req.method} ${preview(redact(r, req.path), 160)}: ${res.error ?? ''}; the request before it on that connection: ${before.text}`,
      before,
    }
    closedThenAsked.count++
    sent++
    mode = 'raw'
  }
  if (mode === 'raw') {
    rawSent++
    const bytes = req.raw ?? rawBytes(req, r.env.hosts[req.target])
    const rr = await rawRequest(r.env.ports[req.target], bytes, {
      timeoutMs: req.incomplete ? Math.min(3000, r.timeoutMs) : r.timeoutMs,
      head: req.method.toUpperCase() === 'HEAD',
    })
    res = {
      status: rr.status,
      headers: rr.headers,
      body: rr.body,
      outcome: rr.outcome,
      ...(rr.error ? { error: rr.error } : {}),
      ms: rr.ms,
    }
    if (closedOn && res.status > 0) {
      closedThenAsked.answered++
      // Node's HTTP parser refuses some requests itself (a request line or headers too long, bytes it does not
      // take) with an empty 400/431 and closes: that answer is this request's. Otherwise the connection was closed
      // by what went before on it, and the server said nothing (no "Connection: close") about it.
      if (parserAnswer(res)) closedThenAsked.parser++
      else {
        if (closedThenAsked.examples.length < 10) closedThenAsked.examples.push(closedOn.what)
        addFinding(
          'closed connection',
          `the next request on a kept-alive connection found it closed after ${closedOn.before.shape}`,
          caseIndex,
          { detail: closedOn.what },
        )
      }
    }
  }
  record(r, req, res!, mode, caseIndex, family)
  if (recent.size > 5000) recent.delete(recent.keys().next().value!)
  const bytes = req.body === undefined ? 0 : Buffer.byteLength(req.body)
  recent.set(seq, {
    text: `#${seq} case ${caseIndex} ${req.method} ${preview(redact(r, req.path), 200)} body ${bytes} bytes${req.chunked ? ' chunked' : ''} → ${res!.status || res!.outcome}`,
    shape: `${req.target} ${req.method} ${route(req.path)} with a body of ${bytes > 64 * 1024 ? 'more than 64 KiB' : bytes > 0 ? 'at most 64 KiB' : 'nothing'} → ${res!.status || res!.outcome}`,
  })
  return res!
}

function redact(r: Runner, text: string): string {
  let out = text
  for (const [secret, label] of r.secrets) if (secret) out = out.split(secret).join(label)
  return out
}

/** The first bytes of a body with the secrets in them replaced (bodies are mostly text; binary is shown escaped). */
function redactBody(r: Runner, data: Buffer | string | undefined): string | undefined {
  if (data === undefined) return undefined
  const buf = Buffer.from(data)
  return (
    redact(r, buf.subarray(0, 4096).toString('utf8')) + (buf.byteLength > 4096 ? ` [… ${buf.byteLength} bytes]` : '')
  )
}

function preview(data: Buffer | string | undefined, n = 300): string {
  if (data === undefined) return ''
  const buf = Buffer.from(data)
  const text = buf.subarray(0, n).toString('utf8')
  return `${JSON.stringify(text).slice(1, -1)}${buf.byteLength > n ? `… (${buf.byteLength} bytes)` : ''}`
}

function record(
  r: Runner,
  req: FuzzReq,
  res: FuzzRes,
  mode: 'undici' | 'raw',
  caseIndex: number,
  family: string,
): void {
  let k: Klass
  // Node's HTTP server closes CONNECT requests it has no handler for: no answer is its documented behaviour
  const noneDue = req.incomplete || req.method.toUpperCase() === 'CONNECT'
  if (res.outcome === 'timeout' && !req.incomplete) k = 'hang'
  else if (res.status <= 0) k = noneDue ? 'none due' : 'no answer'
  else if (res.status >= 500) k = '5xx'
  else if (res.status >= 400) k = '4xx'
  else if (res.status >= 300) k = '3xx'
  else k = '2xx'
  bump(counts.byTarget, req.target, k)
  bump(counts.byFamily, family, k)
  counts.statuses.set(
    `${req.target} ${res.status || res.outcome}`,
    (counts.statuses.get(`${req.target} ${res.status || res.outcome}`) ?? 0) + 1,
  )
  const headers = Object.fromEntries(Object.entries(req.headers ?? {}).map(([h, v]) => [h, preview(redact(r, v), 200)]))
  const example = (): Example => ({
    case: caseIndex,
    family,
    target: req.target,
    method: req.method,
    path: preview(redact(r, req.path), 400),
    headers,
    body: preview(redactBody(r, req.raw ?? req.body)),
    mode,
    status: res.status,
    outcome: res.outcome + (res.error ? ` (${res.error})` : ''),
    response: preview(redact(r, res.body.toString('utf8')), 600),
    ms: round(res.ms, 0),
  })
  const pathShape = shape(redact(r, req.path))
  if (k === '5xx')
    addFinding(
      '5xx',
      `${req.target} ${req.method} ${pathShape} → ${res.status} ${shape(res.body.toString('utf8', 0, 300))}`,
      caseIndex,
      example(),
    )
  if (k === 'hang') addFinding('hang', `${req.target} ${req.method} ${pathShape}`, caseIndex, example())
  if (k === 'no answer')
    addFinding(
      'no answer',
      `${req.target} ${req.method} ${pathShape} (${(res.error ?? res.outcome).split(':')[0]})`,
      caseIndex,
      example(),
    )
  if (res.status > 0 && req.check) {
    const wrong = req.check(res)
    if (wrong) addFinding('wrong answer', `${req.target} ${req.method} ${pathShape}: ${wrong}`, caseIndex, example())
  }
  if (r.verbose) {
    process.stderr.write(
      `  ${req.target} ${mode} ${req.method} ${preview(redact(r, req.path), 200)} ${JSON.stringify(headers)} body ${preview(redactBody(r, req.raw ?? req.body), 120)}\n` +
        `    → ${res.status || res.outcome}${res.error ? ` (${res.error})` : ''} in ${round(res.ms, 0)} ms: ${preview(redact(r, res.body.toString('utf8')), 300)}\n`,
    )
  }
}

// ------------------------------------------------------------------------------------------------ set-up

interface Call {
  status: number
  headers: Record<string, string>
  text: string
  body: Buffer
}

async function call(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  reqBody?: string | Buffer,
): Promise<Call> {
  const pool = new Pool(url, { connections: 1 })
  try {
    const res = await pool.request({
      path,
      method: method as Dispatcher.HttpMethod,
      headers,
      ...(reqBody !== undefined ? { body: reqBody } : {}),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    })
    const body = Buffer.from(await res.body.arrayBuffer())
    return { status: res.statusCode, headers: flatHeaders(res.headers), text: body.toString('utf8'), body }
  } finally {
    await pool.close()
  }
}

async function expect(what: string, p: Promise<Call>, status: number): Promise<Call> {
  const res = await p
  if (res.status !== status) throw new Error(`set-up: ${what}: HTTP ${res.status} ${res.text.slice(0, 300)}`)
  return res
}

function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`
}

async function setUp(origin: BenchServer, cache: BenchServer, cp: BenchServer, rng: Rng): Promise<FuzzEnv> {
  const admin = origin.credentials!
  const goodAddress = '10.99.0.1'
  const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`
  const adminBasic = { authorization: basic(admin.username, admin.password), 'x-forwarded-for': goodAddress }
  const json = { 'content-type': 'application/json' }
  const login = await expect(
    'admin login',
    call(origin.url, 'POST', '/api/v0/login', { ...json, 'x-forwarded-for': goodAddress }, JSON.stringify(admin)),
    200,
  )
  const session = /wharf_session=([^;]+)/.exec(login.headers['set-cookie'] ?? '')?.[1]
  if (!session) throw new Error('set-up: the login set no wharf_session cookie')
  const asAdmin = { ...json, cookie: `wharf_session=${session}`, 'x-forwarded-for': goodAddress }
  const pat = (
    JSON.parse(
      (
        await expect(
          'personal access token',
          call(
            origin.url,
            'POST',
            `/api/v0/accounts/${admin.username}/tokens`,
            asAdmin,
            JSON.stringify({ name: 'fuzz' }),
          ),
          201,
        )
      ).text,
    ) as { token: string }
  ).token
  const user = { username: 'fuzz-u1', password: 'fuzz-user-password-1' }
  for (const [name, kind, password] of [
    ['fuzz', 'org', undefined],
    ['fuzz-o1', 'org', undefined],
    [user.username, 'user', user.password],
    ['fuzz-u2', 'user', 'fuzz-user-password-2'],
    ['fuzz-u3', 'user', 'fuzz-user-password-3'],
  ] as const) {
    await expect(
      `account ${name}`,
      call(
        origin.url,
        'POST',
        '/api/v0/accounts',
        asAdmin,
        JSON.stringify({ name, kind, ...(password ? { password } : {}) }),
      ),
      201,
    )
  }
  await expect(
    'team devs',
    call(origin.url, 'POST', '/api/v0/orgs/fuzz-o1/teams', asAdmin, JSON.stringify({ name: 'devs' })),
    201,
  )
  for (const name of FUZZ_REPOS)
    await expect(
      `repository ${name}`,
      call(origin.url, 'POST', '/api/v0/repositories', asAdmin, JSON.stringify({ name, visibility: 'private' })),
      201,
    )

  // registry tokens: the admin's for the fuzz repositories, the control plane's admin scope, the user's
  const ping = await call(origin.url, 'GET', '/v2/')
  const service = parseBearerChallenge(ping.headers['www-authenticate'])?.service ?? ''
  const scopes = [
    ...FUZZ_REPOS.map((r) => `scope=${encodeURIComponent(`repository:${r}:pull,push,delete`)}`),
    `scope=${encodeURIComponent('registry:catalog:*')}`,
  ]
  const tokenRes = JSON.parse(
    (
      await expect(
        'admin token',
        call(
          origin.url,
          'GET',
          `/auth/token?service=${encodeURIComponent(service)}&${scopes.join('&')}&offline_token=true&client_id=fuzz`,
          adminBasic,
        ),
        200,
      )
    ).text,
  ) as { token: string; refresh_token?: string }
  const cpToken = (
    JSON.parse(
      (
        await expect(
          'control plane token',
          call(
            origin.url,
            'GET',
            `/auth/token?service=${encodeURIComponent(service)}&scope=${encodeURIComponent('controlplane:admin:*')}`,
            adminBasic,
          ),
          200,
        )
      ).text,
    ) as { token: string }
  ).token
  const userToken = (
    JSON.parse(
      (
        await expect(
          'user token',
          call(
            origin.url,
            'GET',
            `/auth/token?service=${encodeURIComponent(service)}&scope=${encodeURIComponent('repository:fuzz/r0:pull')}`,
            { authorization: basic(user.username, user.password), 'x-forwarded-for': goodAddress },
          ),
          200,
        )
      ).text,
    ) as { token: string }
  ).token
  const bearer = { authorization: `Bearer ${tokenRes.token}` }

  // content: blobs and manifests in fuzz/r0..r3 (r1 shares r0's blobs), an index in fuzz/r0
  const blobs: KnownBlob[] = []
  const manifests: KnownManifest[] = []
  const push = async (repo: string, data: Buffer) => {
    const digest = sha256(data)
    const post = await expect(
      `POST ${repo} upload`,
      call(origin.url, 'POST', `/v2/${repo}/blobs/uploads/`, bearer),
      202,
    )
    const loc = new URL(post.headers.location!, origin.url)
    await expect(
      `PUT ${repo} blob`,
      call(
        origin.url,
        'PUT',
        `${loc.pathname}${loc.search ? `${loc.search}&` : '?'}digest=${encodeURIComponent(digest)}`,
        { ...bearer, 'content-type': 'application/octet-stream' },
        data,
      ),
      201,
    )
    blobs.push({ repo, digest, size: data.byteLength, data })
    return { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: data.byteLength }
  }
  const putManifest = async (repo: string, tag: string, body: Buffer, mediaType: string) => {
    await expect(
      `PUT ${repo}:${tag}`,
      call(origin.url, 'PUT', `/v2/${repo}/manifests/${tag}`, { ...bearer, 'content-type': mediaType }, body),
      201,
    )
    manifests.push({ repo, tag, digest: sha256(body), bytes: body, mediaType })
  }
  for (const repo of ['fuzz/r0', 'fuzz/r1', 'fuzz/r2', 'fuzz/r3']) {
    const shared = repo === 'fuzz/r1' ? blobs.filter((b) => b.repo === 'fuzz/r0').map((b) => b.data) : undefined
    const datas = shared ?? [
      Buffer.from(
        JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, repo }),
      ),
      rng.bytes(1024),
      rng.bytes(100 * 1024),
      rng.bytes(300 * 1024),
    ]
    const descs = []
    for (const d of datas) descs.push(await push(repo, d))
    const [config, ...layers] = descs
    const m1 = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { ...config!, mediaType: OCI_CONFIG },
        layers,
      }),
    )
    await putManifest(repo, 'v1', m1, OCI_MANIFEST)
    const m2 = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { ...config!, mediaType: OCI_CONFIG },
        layers: layers.slice(0, 1),
        annotations: { v: '2' },
      }),
    )
    await putManifest(repo, 'v2', m2, OCI_MANIFEST)
    await putManifest(repo, 'latest', m2, OCI_MANIFEST)
    if (repo === 'fuzz/r0') {
      const index = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_INDEX,
          manifests: [m1, m2].map((m, i) => ({
            mediaType: OCI_MANIFEST,
            digest: sha256(m),
            size: m.byteLength,
            platform: { os: 'linux', architecture: i ? 'arm64' : 'amd64' },
          })),
        }),
      )
      await putManifest(repo, 'multi', index, OCI_INDEX)
    }
  }

  // the scratch repositories hold fuzz/r0's blobs too (mounted), so valid manifests can be pushed there
  for (const repo of FUZZ_REPOS.slice(4)) {
    for (const b of blobs.filter((x) => x.repo === 'fuzz/r0')) {
      await expect(
        `mount into ${repo}`,
        call(
          origin.url,
          'POST',
          `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(b.digest)}&from=fuzz/r0`,
          bearer,
        ),
        201,
      )
    }
  }

  // the control plane: a site, a join token for it, and the harness joined as that site's node
  const cpAuth = { ...json, authorization: `Bearer ${cpToken}` }
  await expect(
    'site fuzz-site',
    call(
      cp.url,
      'POST',
      '/api/v0/sites',
      cpAuth,
      JSON.stringify({ name: 'fuzz-site', url: cache.url, region: 'local' }),
    ),
    201,
  )
  const joinToken = (
    JSON.parse(
      (
        await expect(
          'join token',
          call(
            cp.url,
            'POST',
            '/api/v0/join-tokens',
            cpAuth,
            JSON.stringify({ site: 'fuzz-site', uses: 1, expiresIn: 600 }),
          ),
          201,
        )
      ).text,
    ) as { token: string }
  ).token
  const joined = JSON.parse(
    (
      await expect(
        'join',
        call(
          cp.url,
          'POST',
          '/api/v0/join',
          { ...json, authorization: `Bearer ${joinToken}` },
          JSON.stringify({ version: 'fuzz' }),
        ),
        200,
      )
    ).text,
  ) as { site: { id: string }; credential: string }
  await expect(
    'heartbeat',
    call(
      cp.url,
      'POST',
      `/api/v0/sites/${joined.site.id}/heartbeat`,
      { ...json, authorization: `Bearer ${joined.credential}` },
      JSON.stringify({ version: 'fuzz' }),
    ),
    200,
  )

  // forged credentials, from a real token and the origin's public key
  const jwks = JSON.parse((await expect('jwks', call(origin.url, 'GET', '/auth/jwks.json'), 200)).text) as {
    keys: JsonWebKey[]
  }
  const pem = createPublicKey({ key: jwks.keys[0]!, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
  const forged = forgeTokens(tokenRes.token, pem).map((f) => ({ label: f.label, authorization: `Bearer ${f.token}` }))

  const hostOf = (s: BenchServer) => new URL(s.url).host
  const portOf = (s: BenchServer) => Number(new URL(s.url).port)
  return {
    ports: { origin: portOf(origin), cache: portOf(cache), cp: portOf(cp) },
    hosts: { origin: hostOf(origin), cache: hostOf(cache), cp: hostOf(cp) },
    admin,
    user,
    session,
    pat,
    adminToken: tokenRes.token,
    userToken,
    cpToken,
    refreshToken: tokenRes.refresh_token ?? '',
    service,
    siteId: joined.site.id,
    siteCredential: joined.credential,
    forged,
    blobs,
    manifests,
    goodAddress,
  }
}

// ------------------------------------------------------------------------------------------------ checks

async function finalChecks(
  env: FuzzEnv,
  servers: Record<TargetName, BenchServer>,
): Promise<{ check: string; ok: boolean; detail: string }[]> {
  const out: { check: string; ok: boolean; detail: string }[] = []
  const run = async (check: string, fn: () => Promise<string | undefined>) => {
    try {
      const wrong = await fn()
      out.push({ check, ok: wrong === undefined, detail: wrong ?? 'ok' })
    } catch (err) {
      out.push({ check, ok: false, detail: (err as Error).message })
    }
  }
  const m = env.manifests.find((x) => x.repo === 'fuzz/r0' && x.tag === 'v1')!
  const blob = env.blobs.find((b) => b.repo === 'fuzz/r0' && b.size === 1024)!
  const bearer = { authorization: `Bearer ${env.adminToken}` }
  const accept = { accept: `${OCI_MANIFEST}, ${OCI_INDEX}` }
  await run('origin: GET /v2/ with the admin token is 200', async () => {
    const r = await call(servers.origin.url, 'GET', '/v2/', bearer)
    return r.status === 200 ? undefined : `HTTP ${r.status} ${r.text.slice(0, 200)}`
  })
  for (const target of ['origin', 'cache'] as const) {
    await run(`${target}: GET /v2/fuzz/r0/manifests/v1 is 200 with the pushed bytes`, async () => {
      const r = await call(servers[target].url, 'GET', '/v2/fuzz/r0/manifests/v1', { ...bearer, ...accept })
      if (r.status !== 200) return `HTTP ${r.status} ${r.text.slice(0, 200)}`
      return sha256(r.body) === m.digest ? undefined : `body hashes to ${sha256(r.body)}, pushed ${m.digest}`
    })
  }
  await run('cache: GET of a pushed 1 KiB blob is 200 with its bytes', async () => {
    const r = await call(servers.cache.url, 'GET', `/v2/fuzz/r0/blobs/${blob.digest}`, bearer)
    if (r.status !== 200) return `HTTP ${r.status} ${r.text.slice(0, 200)}`
    return r.body.equals(blob.data) ? undefined : `${r.body.byteLength} bytes that are not the pushed ones`
  })
  await run('origin: GET /api/v0/me with the admin session is 200', async () => {
    const r = await call(servers.origin.url, 'GET', '/api/v0/me', { cookie: `wharf_session=${env.session}` })
    return r.status === 200 ? undefined : `HTTP ${r.status} ${r.text.slice(0, 200)}`
  })
  await run('origin: /auth/token with the admin password (from the harness address) is 200', async () => {
    const r = await call(
      servers.origin.url,
      'GET',
      `/auth/token?service=${encodeURIComponent(env.service)}&scope=repository:fuzz/r0:pull`,
      {
        authorization: `Basic ${Buffer.from(`${env.admin.username}:${env.admin.password}`).toString('base64')}`,
        'x-forwarded-for': env.goodAddress,
      },
    )
    return r.status === 200 ? undefined : `HTTP ${r.status} ${r.text.slice(0, 200)}`
  })
  await run('control plane: GET /health is 200', async () => {
    const r = await call(servers.cp.url, 'GET', '/health')
    return r.status === 200 ? undefined : `HTTP ${r.status} ${r.text.slice(0, 200)}`
  })
  await run('control plane: GET /api/v0/sites with the admin token is 200', async () => {
    const r = await call(servers.cp.url, 'GET', '/api/v0/sites', { authorization: `Bearer ${env.cpToken}` })
    return r.status === 200 ? undefined : `HTTP ${r.status} ${r.text.slice(0, 200)}`
  })
  return out
}

/** Error-level lines of a program's log (pino JSON, level >= 50), grouped by message. */
async function logErrors(s: BenchServer): Promise<{ message: string; count: number; first: string }[]> {
  const text = await readFile(s.logFile, 'utf8').catch(() => '')
  const groups = new Map<string, { message: string; count: number; first: string }>()
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) {
      if (line.trim() && !line.startsWith('WHARF_')) {
        const g = groups.get('(non-JSON output)') ?? {
          message: '(non-JSON output)',
          count: 0,
          first: line.slice(0, 500),
        }
        g.count++
        groups.set(g.message, g)
      }
      continue
    }
    try {
      const j = JSON.parse(line) as {
        level?: number
        msg?: string
        err?: { message?: string; stack?: string; type?: string }
      }
      if ((j.level ?? 0) < 50) continue
      const message = `${j.msg ?? ''}: ${shape(j.err?.message ?? '')}`
      const g = groups.get(message) ?? {
        message,
        count: 0,
        first: (j.err?.stack ?? j.err?.message ?? line).split('\n').slice(0, 6).join(' | ').slice(0, 800),
      }
      g.count++
      groups.set(message, g)
    } catch {
      // a partial line
    }
  }
  return [...groups.values()].sort((a, b) => b.count - a.count)
}

// ------------------------------------------------------------------------------------------------ main

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2))
  const startedAt = new Date()
  const loadAtStart = machineInfo().loadavg
  const command = `npm run bench:fuzz${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`
  const replay = opts.cases !== undefined
  note(
    `${command}: ${replay ? `replaying case(s) ${opts.cases!.join(', ')}` : `${opts.requests} requests`}, seed ${opts.seed}, concurrency ${opts.concurrency}`,
  )

  if (opts.committed) await useCommittedPrograms()
  note(`programs from ${programsRoot()}${opts.committed ? ' (HEAD, unpacked)' : ''}`)
  // the origin must know the control plane's address before either runs: a port that was free a moment ago, and
  // both started again on another one should something take it in between
  let origin: BenchServer | undefined
  let cp: BenchServer | undefined
  for (let attempt = 1; !cp; attempt++) {
    const cpPort = await freePort()
    origin = await startWharfOrigin({
      keep: opts.keep,
      env: {
        ORIGIN_TOKEN_TTL: '1h',
        ORIGIN_TRUSTED_PROXIES: '127.0.0.1/32',
        ORIGIN_CONTROL_PLANE_URL: `http://127.0.0.1:${cpPort}`,
      },
    })
    try {
      cp = await startWharfControlPlane(origin, { keep: opts.keep, port: cpPort })
    } catch (err) {
      await origin.stop()
      if (attempt >= 3 || !/EADDRINUSE/.test((err as Error).message)) throw err
      note(`port ${cpPort} was taken meanwhile: starting again`)
    }
  }
  const started = { origin: origin!, cp }
  const all: BenchServer[] = [started.origin, started.cp]
  const stopAll = async () => {
    for (const s of [...all].reverse()) await s.stop().catch(() => undefined)
  }
  process.once('SIGINT', () => void stopAll().finally(() => process.exit(130)))
  process.once('SIGTERM', () => void stopAll().finally(() => process.exit(143)))
  let markdown = ''
  let result: Record<string, unknown> = {}
  let failed = false
  try {
    const cache = await startWharfCache(started.origin, { keep: opts.keep })
    all.push(cache)
    const servers: Record<TargetName, BenchServer> = { origin: started.origin, cache, cp: started.cp }
    for (const s of all) note(`${s.label} pid ${s.pid} on ${s.url} (${s.version})`)
    const env = await setUp(servers.origin, cache, servers.cp, new Rng(`fuzz-setup:${opts.seed}`))
    note(
      `set up: ${env.blobs.length} blobs, ${env.manifests.length} manifests, site ${env.siteId}, ${env.forged.length} forged credentials`,
    )

    const basicAdmin = Buffer.from(`${env.admin.username}:${env.admin.password}`).toString('base64')
    const basicUser = Buffer.from(`${env.user.username}:${env.user.password}`).toString('base64')
    const runner: Runner = {
      env,
      pools: {
        origin: new Pool(servers.origin.url, { connections: opts.concurrency * 2, pipelining: 1 }),
        cache: new Pool(cache.url, { connections: opts.concurrency * 2, pipelining: 1 }),
        cp: new Pool(servers.cp.url, { connections: opts.concurrency * 2, pipelining: 1 }),
      },
      timeoutMs: opts.timeoutMs,
      verbose: replay,
      secrets: [
        [env.adminToken, '<admin-token>'],
        [env.userToken, '<user-token>'],
        [env.cpToken, '<cp-admin-token>'],
        [env.refreshToken, '<refresh-token>'],
        [env.siteCredential, '<site-credential>'],
        [env.pat, '<pat>'],
        [env.session, '<session>'],
        [basicAdmin, '<base64 admin:password>'],
        [basicUser, '<base64 fuzz-u1:password>'],
        [env.admin.password, '<admin-password>'],
      ],
    }

    // ---- the cases: launched in order while fewer than --requests have gone out; a batch check every 250
    const crashes: { program: string; status: string; afterRequests: number; log: string }[] = []
    const checkCrashes = async () => {
      for (const s of all) {
        const status = s.exitStatus()
        if (status && !crashes.some((c) => c.program === s.label)) {
          const log = (await readFile(s.logFile, 'utf8').catch(() => '')).slice(-3000)
          crashes.push({ program: s.label, status, afterRequests: sent, log })
          addFinding('crash', `${s.label} exited (${status})`, -1, {
            detail: `after ${sent} requests; log tail: ${log.slice(-1500)}`,
          })
        }
      }
    }
    const familyCounts = new Map<string, number>()
    const t0 = performance.now()
    let next = 0
    let nextBatch = BATCH
    const queue = replay ? [...opts.cases!] : undefined
    const worker = async () => {
      for (;;) {
        if (crashes.length) return
        let index: number
        if (queue) {
          if (queue.length === 0) return
          index = queue.shift()!
        } else {
          if (sent >= opts.requests) return
          index = next++
        }
        const rng = Rng.derive(opts.seed, index)
        const family = rng.weighted(FAMILIES.map((f) => [f, f.weight] as const))
        const xff = `10.${rng.int(0, 98)}.${rng.int(0, 255)}.${rng.int(1, 254)}`
        familyCounts.set(family.name, (familyCounts.get(family.name) ?? 0) + 1)
        if (replay) process.stderr.write(`case ${index} (${family.name}), X-Forwarded-For ${xff}\n`)
        const ctx: CaseCtx = { rng, env, send: (req) => send(runner, req, index, family.name, xff) }
        try {
          await family.run(ctx)
        } catch (err) {
          addFinding(
            'final check',
            `harness exception in ${family.name}: ${(err as Error).message.slice(0, 120)}`,
            index,
            { detail: (err as Error).stack ?? String(err) },
          )
        }
        if (sent >= nextBatch) {
          nextBatch += BATCH
          await checkCrashes()
          if (!replay)
            note(
              `${sent} requests, ${next} cases, ${[...findings.values()].filter((f) => f.kind === '5xx').reduce((a, f) => a + f.count, 0)} 5xx, ${crashes.length} crashes, ${[...findings.values()].filter((f) => f.kind === 'hang').reduce((a, f) => a + f.count, 0)} hangs`,
            )
        }
      }
    }
    await Promise.all(Array.from({ length: replay ? 1 : opts.concurrency }, worker))
    const seconds = (performance.now() - t0) / 1000
    await checkCrashes()
    await Promise.all(Object.values(runner.pools).map((p) => p.close()))

    // ---- after: every program answers a normal request; what they logged as errors
    const checks = crashes.length ? [] : await finalChecks(env, servers)
    for (const c of checks) if (!c.ok) addFinding('final check', `${c.check}: ${c.detail}`, -1, { detail: c.detail })
    await checkCrashes()
    const logs = Object.fromEntries(await Promise.all(all.map(async (s) => [s.label, await logErrors(s)] as const)))

    // ---- report
    const list = (kind: Finding['kind']) => [...findings.values()].filter((f) => f.kind === kind)
    const total = (kind: Finding['kind']) => list(kind).reduce((a, f) => a + f.count, 0)
    const targets = { '5xx': total('5xx'), crashes: crashes.length, hangs: total('hang') }
    failed = targets['5xx'] > 0 || targets.crashes > 0 || targets.hangs > 0 || checks.some((c) => !c.ok)
    result = {
      ...runHeader({ benchmark: 'fuzz', command, startedAt, loadAtStart, servers: all }),
      params: {
        requests: opts.requests,
        seed: opts.seed,
        concurrency: opts.concurrency,
        timeoutMs: opts.timeoutMs,
        cases: opts.cases ?? null,
      },
      closedThenAsked,
      summary: {
        requests: sent,
        rawRequests: rawSent,
        cases: replay ? opts.cases!.length : next,
        seconds: round(seconds, 1),
        ...targets,
        noAnswer: total('no answer'),
        wrongAnswers: total('wrong answer'),
        finalChecksFailed: checks.filter((c) => !c.ok).length,
      },
      byTarget: Object.fromEntries(counts.byTarget),
      byFamily: Object.fromEntries(counts.byFamily),
      casesByFamily: Object.fromEntries(familyCounts),
      statuses: Object.fromEntries([...counts.statuses.entries()].sort()),
      findings: [...findings.values()],
      crashes,
      finalChecks: checks,
      logErrors: logs,
    }
    markdown = render(result, opts, targets, checks, logs)
  } finally {
    await stopAll()
  }
  if (!replay) {
    const dir = join(REPO_ROOT, 'bench', 'results')
    await mkdir(dir, { recursive: true })
    const file = join(dir, `fuzz-${startedAt.toISOString().slice(0, 16).replace(':', '')}.json`)
    await writeFile(file, `${JSON.stringify(result, null, 2)}\n`)
    note(`results: ${file}`)
  }
  console.log(markdown)
  if (failed) process.exitCode = 1
}

function render(
  result: Record<string, unknown>,
  opts: Options,
  targets: { '5xx': number; crashes: number; hangs: number },
  checks: { check: string; ok: boolean; detail: string }[],
  logs: Record<string, { message: string; count: number; first: string }[]>,
): string {
  const s = result.summary as Record<string, number>
  const m = result.machine as ReturnType<typeof machineInfo> & { loadavgAtStart: number[] }
  const esc = (x: string) => x.replace(/\|/g, '\\|').replace(/\n/g, ' ')
  const row = (name: string, r: Record<Klass, number>) => [
    name,
    String(KLASSES.reduce((a, k) => a + r[k], 0)),
    ...KLASSES.map((k) => String(r[k])),
  ]
  const lines = [
    `Fuzz, ${String(result.finishedAt).slice(0, 16)}Z: ${s.requests} requests (${s.rawRequests} over raw sockets) in ${s.cases} cases and ${s.seconds} s, seed ${opts.seed}, concurrency ${opts.concurrency}, ` +
      `timeout ${opts.timeoutMs / 1000} s; ${m.cpus}× ${m.cpuModel}, Node ${m.node}; load average at start ${m.loadavgAtStart.join(' ')}, at end ${m.loadavg.join(' ')}.`,
    `Command: \`${String(result.command)}\`. Replay one case: \`npm run bench:fuzz -- --seed ${opts.seed} --case K\`.`,
    '',
    markdownTable(
      ['target', 'value', 'goal', 'met?'],
      [
        ['answers with a 5xx status', String(targets['5xx']), '0', targets['5xx'] === 0 ? 'met' : '**missed**'],
        ['crashes (a program exited)', String(targets.crashes), '0', targets.crashes === 0 ? 'met' : '**missed**'],
        [
          `hangs (no answer within ${opts.timeoutMs / 1000} s)`,
          String(targets.hangs),
          '0',
          targets.hangs === 0 ? 'met' : '**missed**',
        ],
        [
          'programs answering a normal request at the end',
          `${checks.filter((c) => c.ok).length} of ${checks.length} checks`,
          'all',
          checks.length > 0 && checks.every((c) => c.ok) ? 'met' : '**missed**',
        ],
      ],
    ),
    '',
    markdownTable(
      ['program', 'requests', ...KLASSES],
      [...Object.entries(result.byTarget as Record<string, Record<Klass, number>>)].map(([k, r]) =>
        row(k === 'cp' ? 'control plane' : k === 'cache' ? 'cache node' : 'origin', r),
      ),
    ),
    '',
    markdownTable(
      ['family', 'requests', ...KLASSES],
      [...Object.entries(result.byFamily as Record<string, Record<Klass, number>>)].map(([k, r]) => row(k, r)),
    ),
  ]
  const fs = result.findings as Finding[]
  for (const kind of [
    '5xx',
    'hang',
    'crash',
    'wrong answer',
    'no answer',
    'closed connection',
    'final check',
  ] as const) {
    const list = fs.filter((f) => f.kind === kind)
    if (!list.length) continue
    lines.push('', `**${kind}** (${list.reduce((a, f) => a + f.count, 0)}, ${list.length} distinct):`, '')
    lines.push(
      markdownTable(
        ['count', 'what', 'cases', 'example request → answer'],
        list.map((f) => {
          const e = f.example
          const ex =
            'method' in e
              ? `${e.mode} ${e.method} ${e.path} headers ${JSON.stringify(e.headers)} body "${e.body.slice(0, 200)}" → ${e.status || e.outcome}: ${e.response.slice(0, 300)}`
              : e.detail.slice(0, 400)
          return [String(f.count), esc(f.key), f.cases.slice(0, 5).join(', '), esc(ex)]
        }),
      ),
    )
  }
  const logged = Object.entries(logs).flatMap(([prog, gs]) =>
    gs.map((g) => [prog, String(g.count), esc(g.message), esc(g.first.slice(0, 300))]),
  )
  if (logged.length)
    lines.push(
      '',
      'Error lines the programs logged:',
      '',
      markdownTable(['program', 'count', 'message', 'first'], logged.slice(0, 30)),
    )
  return `${lines.join('\n')}\n`
}

main().catch((err: unknown) => {
  console.error(`fuzz failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  process.exitCode = 1
})
