/**
 * `npm run bench:soak [-- --quick] [--clients 500] [--minutes 10]`: a soak of the cache network on loopback. A real
 * origin and a cache node in front of it (both compiled, as `npm run bench` runs them), a user who pushes a set of
 * repositories through the registry API (a few hundred blobs from 1 KiB to 4 MiB, some larger ones, manifests and
 * indexes), then N concurrent clients pulling through the cache for M minutes while new images keep being pushed to
 * the origin. Stops by itself: at the deadline or after --max-requests requests, whichever comes first.
 *
 * Each client behaves like a registry client: it asks without a token, follows the cache's 401 challenge to the
 * origin's /auth/token with basic credentials, keeps one token per repository until 30 s before it expires, and
 * pulls images the way docker (GET the tag) or containerd (HEAD the tag, GET by digest) do: the manifest or index,
 * a platform's manifest, the config and the layers, with some blob HEADs and Range GETs. Most pulls repeat popular
 * images (warm); a share takes the newest pushes, whose blobs nobody has asked for yet (cold, and coalesced when
 * several clients ask at once). Every blob body is hashed and compared with its digest, every range with the bytes
 * pushed, every manifest with its digest.
 *
 * Errors (target 0): any status other than the one expected (401 only where a client has no token yet), any
 * connection error or timeout, any digest, size or range mismatch, a push that fails, a program that exits.
 * Reported: requests and errors by kind, p50/p99/max latency per kind (request sent to last byte read), throughput,
 * and, sampled every few seconds, RSS, open file descriptors and CPU of the cache node and the origin (summary: at
 * 1 min, at the end, max, growth after the first minute; descriptors again once the clients have disconnected).
 * Also sampled: each program's accept queue (connections waiting to be accepted, as `ss -ltn` shows; above zero the
 * program is not keeping up with its clients' connects) and the machine's load average (other work on the cores).
 * Writes bench/results/soak-<date>[-quick].json and prints Markdown tables on stdout (progress on stderr).
 *
 * Options: --quick (100 clients, 1 minute, a smaller data set), --clients N, --minutes N, --max-requests N,
 *   --blobs N, --push-interval 3 (seconds between pushes during the run), --fresh-share 0.2, --think-ms 50,
 *   --cache-max-bytes 64GB, --sample-seconds 5, --seed 1, --keep, --committed (build and run HEAD's programs, from
 *   a `git archive` snapshot, instead of the working tree's)
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import pLimit from 'p-limit'
import { Pool, type Dispatcher } from 'undici'
import { OCI_CONFIG, OCI_MANIFEST } from './lib/debian-image.ts'
import { acceptBacklog, openFileLimit, readProcIo, sampleProc, type ProcSample } from './lib/proc.ts'
import { Rng } from './lib/prng.ts'
import { BenchClient } from './lib/registry-client.ts'
import { machineInfo, markdownTable, note, runHeader } from './lib/report.ts'
import {
  programsRoot,
  REPO_ROOT,
  startWharfCache,
  startWharfOrigin,
  useCommittedPrograms,
  type BenchServer,
} from './lib/servers.ts'
import { KiB, MB, MiB, formatSize, parseSize, round } from './lib/units.ts'
import { parseBearerChallenge, type BearerChallenge } from '../oci/challenge.ts'

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip'
const ACCEPT = [
  OCI_MANIFEST,
  OCI_INDEX,
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ')
const REQUEST_TIMEOUT_MS = 60_000

// ------------------------------------------------------------------------------------------------ options

interface Options {
  quick: boolean
  clients: number
  minutes: number
  maxRequests: number
  blobs: number
  large: number[]
  appRepos: number
  liveRepos: number
  pushIntervalS: number
  freshShare: number
  thinkMs: number
  cacheMaxBytes: number
  sampleS: number
  seed: string
  keep: boolean
  committed: boolean
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      clients: { type: 'string' },
      minutes: { type: 'string' },
      'max-requests': { type: 'string' },
      blobs: { type: 'string' },
      'push-interval': { type: 'string' },
      'fresh-share': { type: 'string' },
      'think-ms': { type: 'string' },
      'cache-max-bytes': { type: 'string' },
      'sample-seconds': { type: 'string' },
      seed: { type: 'string', default: '1' },
      keep: { type: 'boolean', default: false },
      committed: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    console.log(
      'usage: npm run bench:soak -- [--quick] [--clients 500] [--minutes 10] [--max-requests N] [--blobs 300]\n' +
        '  [--push-interval 3] [--fresh-share 0.2] [--think-ms 50] [--cache-max-bytes 64GB] [--sample-seconds 5]\n' +
        '  [--seed 1] [--keep] [--committed (build and run the programs of HEAD, not the working tree)]',
    )
    process.exit(0)
  }
  const q = values.quick
  const num = (name: string, v: string | undefined, dflt: number, min: number, max = Infinity): number => {
    if (v === undefined) return dflt
    const n = Number(v)
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} must be a number from ${min} to ${max}`)
    return n
  }
  const int = (name: string, v: string | undefined, dflt: number, min: number, max = Infinity): number => {
    const n = num(name, v, dflt, min, max)
    if (!Number.isInteger(n)) throw new Error(`--${name} must be a whole number`)
    return n
  }
  return {
    quick: q,
    clients: int('clients', values.clients, q ? 100 : 500, 1, 5000),
    minutes: num('minutes', values.minutes, q ? 1 : 10, 0.05, 24 * 60),
    maxRequests: int('max-requests', values['max-requests'], 20_000_000, 1),
    blobs: int('blobs', values.blobs, q ? 120 : 300, 8),
    // the larger blobs, each the big layer of an image of its own
    large: q ? [16 * MiB, 32 * MiB] : [16 * MiB, 16 * MiB, 32 * MiB, 32 * MiB, 64 * MiB, 64 * MiB],
    appRepos: q ? 10 : 24,
    liveRepos: q ? 3 : 6,
    pushIntervalS: num('push-interval', values['push-interval'], 3, 0.2),
    freshShare: num('fresh-share', values['fresh-share'], 0.2, 0, 1),
    thinkMs: num('think-ms', values['think-ms'], 50, 0),
    cacheMaxBytes: values['cache-max-bytes'] ? parseSize(values['cache-max-bytes']) : 64e9,
    sampleS: num('sample-seconds', values['sample-seconds'], q ? 2 : 5, 0.5),
    seed: values.seed,
    keep: values.keep,
    committed: values.committed,
  }
}

// ------------------------------------------------------------------------------------------------ data set

interface Blob {
  digest: string
  size: number
  data: Buffer
}

interface Manifest {
  digest: string
  bytes: Buffer
  mediaType: string
  repo: string
  /** Config first, then the layers; empty for an index. */
  blobs: Blob[]
  /** An index's platform manifests. */
  children: Manifest[]
}

/** Something a client pulls: a repository's tag. */
interface Target {
  repo: string
  tag: string
  /** The manifest the tag named when it was pushed; `latest` of a live repository moves on. */
  manifest: Manifest
  moving: boolean
  weight: number
}

const blobsByDigest = new Map<string, Blob>()
const manifestsByDigest = new Map<string, Manifest>()

function sha256(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`
}

function newBlob(size: number): Blob {
  const data = randomBytes(size)
  const blob = { digest: sha256(data), size, data }
  blobsByDigest.set(blob.digest, blob)
  return blob
}

function newConfig(rng: Rng, layers: Blob[]): Blob {
  const data = Buffer.from(
    JSON.stringify({
      architecture: rng.pick(['amd64', 'arm64']),
      os: 'linux',
      created: new Date().toISOString(),
      config: { Env: [`SOAK=${rng.u32()}`] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    }),
  )
  const blob = { digest: sha256(data), size: data.byteLength, data }
  blobsByDigest.set(blob.digest, blob)
  return blob
}

function imageManifest(repo: string, config: Blob, layers: Blob[]): Manifest {
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.size },
      layers: layers.map((l) => ({ mediaType: OCI_LAYER, digest: l.digest, size: l.size })),
    }),
  )
  return { digest: sha256(bytes), bytes, mediaType: OCI_MANIFEST, repo, blobs: [config, ...layers], children: [] }
}

function indexManifest(repo: string, children: Manifest[]): Manifest {
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: children.map((m, i) => ({
        mediaType: m.mediaType,
        digest: m.digest,
        size: m.bytes.byteLength,
        platform: { architecture: i === 0 ? 'amd64' : 'arm64', os: 'linux' },
      })),
    }),
  )
  return { digest: sha256(bytes), bytes, mediaType: OCI_INDEX, repo, blobs: [], children }
}

/** Pushes blobs (those the repository does not hold yet), then the manifest under `reference`. */
async function pushImage(
  client: BenchClient,
  manifest: Manifest,
  reference: string,
  pushed: Set<string>,
  limit: ReturnType<typeof pLimit>,
): Promise<void> {
  const todo = manifest.blobs.filter((b) => !pushed.has(`${manifest.repo}@${b.digest}`))
  await Promise.all(
    todo.map((b) =>
      limit(async () => {
        await client.pushBytes(manifest.repo, b.data)
        pushed.add(`${manifest.repo}@${b.digest}`)
      }),
    ),
  )
  for (const child of manifest.children)
    await client.putManifest(manifest.repo, child.digest, child.bytes, child.mediaType)
  manifestsByDigest.set(manifest.digest, manifest)
  await client.putManifest(manifest.repo, reference, manifest.bytes, manifest.mediaType)
}

interface DataSet {
  targets: Target[]
  blobCount: number
  blobBytes: number
  manifests: number
  pushSeconds: number
  live: { repo: string; version: number }[]
}

async function buildDataSet(opts: Options, client: BenchClient, rng: Rng): Promise<DataSet> {
  const t0 = performance.now()
  const pushed = new Set<string>()
  const limit = pLimit(4)
  const targets: Target[] = []
  // shared base layers: the same digest in many repositories (the cache checks each repository upstream)
  const bases = Array.from({ length: 4 }, () => newBlob(rng.int(1 * MiB, 3 * MiB)))
  const pool = Array.from({ length: opts.blobs - bases.length }, () => newBlob(rng.logUniform(KiB, 4 * MiB)))
  const perRepo = Math.ceil(pool.length / opts.appRepos)
  for (let r = 0; r < opts.appRepos; r++) {
    const repo = `soak/app-${String(r).padStart(2, '0')}`
    const own = pool.slice(r * perRepo, (r + 1) * perRepo)
    if (own.length === 0) continue
    // three tags, each the base layer plus a third of the repository's own blobs (the last tag also as latest)
    const versions: Manifest[] = []
    for (let t = 0; t < 3; t++) {
      const part = own.filter((_, i) => i % 3 === t)
      const layers = [bases[r % bases.length]!, ...(part.length ? part : [own[0]!])]
      const m = imageManifest(repo, newConfig(rng, layers), layers)
      await pushImage(client, m, `v${t + 1}`, pushed, limit)
      versions.push(m)
      targets.push({ repo, tag: `v${t + 1}`, manifest: m, moving: false, weight: 1 })
    }
    await client.putManifest(repo, 'latest', versions[2]!.bytes, versions[2]!.mediaType)
    targets.push({ repo, tag: 'latest', manifest: versions[2]!, moving: false, weight: 1 })
    if (r % 3 === 0) {
      const index = indexManifest(repo, versions.slice(0, 2))
      await pushImage(client, index, 'multi', pushed, limit)
      targets.push({ repo, tag: 'multi', manifest: index, moving: false, weight: 1 })
    }
  }
  // popularity: a Zipf-like skew over a shuffled order, so a few images take most pulls
  rng.shuffle(targets).forEach((t, i) => {
    t.weight = 1 / (i + 1) ** 0.8
  })
  const totalWeight = targets.reduce((a, t) => a + t.weight, 0)
  // the large blobs, each in an image of its own, pulled rarely (about 2 % of the warm pulls together)
  for (let i = 0; i < opts.large.length; i++) {
    const repo = `soak/big-${i}`
    const layers = [newBlob(opts.large[i]!), newBlob(rng.logUniform(KiB, 256 * KiB))]
    const m = imageManifest(repo, newConfig(rng, layers), layers)
    await pushImage(client, m, 'v1', pushed, limit)
    targets.push({ repo, tag: 'v1', manifest: m, moving: false, weight: (0.02 * totalWeight) / opts.large.length })
  }
  // live repositories get a new image every --push-interval during the run; they start with one
  const live: { repo: string; version: number }[] = []
  for (let i = 0; i < opts.liveRepos; i++) {
    const repo = `soak/live-${i}`
    const m = await pushLiveImage(client, repo, 1, rng, pushed, limit)
    live.push({ repo, version: 1 })
    targets.push({ repo, tag: 'latest', manifest: m, moving: true, weight: (0.05 * totalWeight) / opts.liveRepos })
  }
  livePushed = pushed
  liveLimit = limit
  let blobBytes = 0
  for (const b of blobsByDigest.values()) blobBytes += b.size
  return {
    targets,
    blobCount: blobsByDigest.size,
    blobBytes,
    manifests: manifestsByDigest.size,
    pushSeconds: (performance.now() - t0) / 1000,
    live,
  }
}

let livePushed = new Set<string>()
let liveLimit = pLimit(4)

async function pushLiveImage(
  client: BenchClient,
  repo: string,
  version: number,
  rng: Rng,
  pushed = livePushed,
  limit = liveLimit,
): Promise<Manifest> {
  const layers = Array.from({ length: rng.int(2, 5) }, () => newBlob(rng.logUniform(KiB, 4 * MiB)))
  const m = imageManifest(repo, newConfig(rng, layers), layers)
  // the manifest is known before its tag exists, so a client that sees the new digest can check it
  manifestsByDigest.set(m.digest, m)
  await pushImage(client, m, `v${version}`, pushed, limit)
  await client.putManifest(repo, 'latest', m.bytes, m.mediaType)
  return m
}

// ------------------------------------------------------------------------------------------------ measurements

const KINDS = [
  'ping',
  'challenge',
  'token',
  'manifest-tag-head',
  'manifest-tag-get',
  'manifest-digest-get',
  'blob-head',
  'blob-get-warm',
  'blob-get-cold',
  'blob-range',
] as const
type Kind = (typeof KINDS)[number]

const latencies = new Map<Kind, number[]>(KINDS.map((k) => [k, []]))
const kindErrors = new Map<Kind, number>(KINDS.map((k) => [k, 0]))
const errors = new Map<string, { count: number; examples: string[] }>()
let requests = 0
let bodyBytes = 0
/** Blobs a client has received in full at least once: a GET of one of these is warm. */
const blobDone = new Set<string>()
const pushStats = { images: 0, blobs: 0, failed: 0, ms: [] as number[] }

function fail(kind: Kind | 'push' | 'process' | 'client', what: string, example: string): void {
  if (kind !== 'push' && kind !== 'process' && kind !== 'client') kindErrors.set(kind, (kindErrors.get(kind) ?? 0) + 1)
  const key = `${kind}: ${what}`
  const e = errors.get(key) ?? { count: 0, examples: [] }
  e.count++
  if (e.examples.length < 3) e.examples.push(example.slice(0, 300))
  errors.set(key, e)
}

class RequestFailed extends Error {}

// ------------------------------------------------------------------------------------------------ clients

interface Shared {
  cache: Pool
  origin: Pool
  originUrl: string
  basic: string
  stopped: () => boolean
}

function header(res: Dispatcher.ResponseData, name: string): string | undefined {
  const v = res.headers[name]
  return Array.isArray(v) ? v[0] : v
}

async function readSome(res: Dispatcher.ResponseData): Promise<string> {
  try {
    const text = await res.body.text()
    return text.slice(0, 200)
  } catch {
    return ''
  }
}

function errorCode(err: unknown): string {
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string } }
  return e.code ?? e.cause?.code ?? e.name ?? 'error'
}

class SoakClient {
  readonly #s: Shared
  readonly #rng: Rng
  readonly #tokens = new Map<string, { token: string; renewAt: number }>()
  readonly #targets: () => { warm: [Target, number][]; fresh: Target[] }
  readonly #freshShare: number
  readonly #thinkMs: number

  constructor(
    s: Shared,
    rng: Rng,
    targets: () => { warm: [Target, number][]; fresh: Target[] },
    freshShare: number,
    thinkMs: number,
  ) {
    this.#s = s
    this.#rng = rng
    this.#targets = targets
    this.#freshShare = freshShare
    this.#thinkMs = thinkMs
  }

  async run(): Promise<void> {
    // a client starts as docker does: GET /v2/, whose 401 names the token realm
    if (!(await this.#ping())) return
    while (!this.#s.stopped()) {
      const { warm, fresh } = this.#targets()
      const target =
        fresh.length > 0 && this.#rng.chance(this.#freshShare) ? this.#rng.pick(fresh) : this.#rng.weighted(warm)
      try {
        await this.#pull(target)
      } catch (err) {
        if (!(err instanceof RequestFailed))
          fail('client', 'exception in the bench client', (err as Error).stack ?? String(err))
      }
      if (this.#thinkMs > 0) await sleep(this.#rng.next() * this.#thinkMs)
    }
  }

  async #ping(): Promise<boolean> {
    const t0 = performance.now()
    const res = await this.#send('ping', { path: '/v2/', method: 'GET' }).catch(() => undefined)
    if (!res) return false
    await res.body.dump()
    if (res.statusCode !== 401 || !parseBearerChallenge(header(res, 'www-authenticate'))) {
      fail(
        'ping',
        `HTTP ${res.statusCode}`,
        `GET /v2/ answered ${res.statusCode} ${header(res, 'www-authenticate') ?? ''}`,
      )
      return true
    }
    this.#record('ping', t0)
    return true
  }

  /** One image pull, the docker way (GET the tag) or the containerd way (HEAD the tag, then GET by digest). */
  async #pull(target: Target): Promise<void> {
    const containerd = this.#rng.chance(0.5)
    let top: Manifest
    if (containerd) {
      const digest = await this.#manifestHead(target)
      top = await this.#manifestGet(target.repo, digest, 'manifest-digest-get', target)
    } else {
      top = await this.#manifestGet(target.repo, target.tag, 'manifest-tag-get', target)
    }
    let image = top
    if (top.children.length > 0) {
      const child = this.#rng.pick(top.children)
      image = await this.#manifestGet(target.repo, child.digest, 'manifest-digest-get', target)
    }
    for (const blob of image.blobs) {
      if (this.#s.stopped()) return
      if (this.#rng.chance(0.15)) await this.#blobHead(target.repo, blob)
      if (this.#s.stopped()) return
      if (blob.size >= 64 * KiB && this.#rng.chance(0.12)) await this.#blobRange(target.repo, blob)
      else await this.#blobGet(target.repo, blob)
    }
  }

  async #manifestHead(target: Target): Promise<string> {
    const path = `/v2/${target.repo}/manifests/${target.tag}`
    const { res, t0 } = await this.#authed('manifest-tag-head', target.repo, {
      path,
      method: 'HEAD',
      headers: { accept: ACCEPT },
    })
    await res.body.dump()
    if (res.statusCode !== 200) this.#bad('manifest-tag-head', `HTTP ${res.statusCode}`, `HEAD ${path}`)
    const digest = header(res, 'docker-content-digest') ?? ''
    this.#checkTagDigest('manifest-tag-head', target, digest, `HEAD ${path}`)
    this.#record('manifest-tag-head', t0)
    return digest
  }

  async #manifestGet(repo: string, reference: string, kind: Kind, target: Target): Promise<Manifest> {
    const path = `/v2/${repo}/manifests/${reference}`
    const { res, t0 } = await this.#authed(kind, repo, { path, method: 'GET', headers: { accept: ACCEPT } })
    if (res.statusCode !== 200) this.#bad(kind, `HTTP ${res.statusCode}`, `GET ${path}: ${await readSome(res)}`)
    const body = Buffer.from(await this.#body(kind, res, path))
    const got = sha256(body)
    const named = header(res, 'docker-content-digest')
    if (named !== got)
      this.#bad(kind, 'digest mismatch', `GET ${path}: body hashes to ${got}, Docker-Content-Digest ${named}`)
    if (reference.startsWith('sha256:')) {
      if (got !== reference) this.#bad(kind, 'digest mismatch', `GET ${path}: body hashes to ${got}`)
    } else {
      this.#checkTagDigest(kind, target, got, `GET ${path}`)
    }
    const m = manifestsByDigest.get(got)
    if (!m || m.repo !== repo) this.#bad(kind, 'unknown manifest', `GET ${path}: ${got} was never pushed to ${repo}`)
    this.#record(kind, t0, body.byteLength)
    return m!
  }

  #checkTagDigest(kind: Kind, target: Target, digest: string, what: string): void {
    const m = manifestsByDigest.get(digest)
    const ok = target.moving ? m !== undefined && m.repo === target.repo : digest === target.manifest.digest
    if (!ok)
      this.#bad(
        kind,
        'tag names a wrong digest',
        `${what}: Docker-Content-Digest ${digest}, expected ${target.manifest.digest}`,
      )
  }

  async #blobHead(repo: string, blob: Blob): Promise<void> {
    const path = `/v2/${repo}/blobs/${blob.digest}`
    const { res, t0 } = await this.#authed('blob-head', repo, { path, method: 'HEAD' })
    await res.body.dump()
    if (res.statusCode !== 200) this.#bad('blob-head', `HTTP ${res.statusCode}`, `HEAD ${path}`)
    if (header(res, 'content-length') !== String(blob.size))
      this.#bad(
        'blob-head',
        'size mismatch',
        `HEAD ${path}: Content-Length ${header(res, 'content-length')}, expected ${blob.size}`,
      )
    if (header(res, 'docker-content-digest') !== blob.digest)
      this.#bad(
        'blob-head',
        'digest mismatch',
        `HEAD ${path}: Docker-Content-Digest ${header(res, 'docker-content-digest')}`,
      )
    this.#record('blob-head', t0)
  }

  async #blobGet(repo: string, blob: Blob): Promise<void> {
    const kind: Kind = blobDone.has(blob.digest) ? 'blob-get-warm' : 'blob-get-cold'
    const path = `/v2/${repo}/blobs/${blob.digest}`
    const { res, t0 } = await this.#authed(kind, repo, { path, method: 'GET' })
    if (res.statusCode !== 200) this.#bad(kind, `HTTP ${res.statusCode}`, `GET ${path}: ${await readSome(res)}`)
    const hash = createHash('sha256')
    let bytes = 0
    try {
      for await (const chunk of res.body) {
        hash.update(chunk as Buffer)
        bytes += (chunk as Buffer).byteLength
      }
    } catch (err) {
      this.#bad(
        kind,
        `body ${errorCode(err)}`,
        `GET ${path}: after ${bytes} of ${blob.size} bytes: ${(err as Error).message}`,
      )
    }
    const got = `sha256:${hash.digest('hex')}`
    if (bytes !== blob.size) this.#bad(kind, 'size mismatch', `GET ${path}: ${bytes} bytes, expected ${blob.size}`)
    if (got !== blob.digest) this.#bad(kind, 'digest mismatch', `GET ${path}: body hashes to ${got}`)
    blobDone.add(blob.digest)
    this.#record(kind, t0, bytes)
  }

  async #blobRange(repo: string, blob: Blob): Promise<void> {
    const path = `/v2/${repo}/blobs/${blob.digest}`
    // a resumed download (start-), a window (start-end) or the tail (-n)
    const style = this.#rng.int(0, 2)
    let start: number
    let end = blob.size - 1
    let value: string
    if (style === 0) {
      start = this.#rng.int(1, blob.size - 1)
      value = `bytes=${start}-`
    } else if (style === 1) {
      start = this.#rng.int(0, blob.size - 2)
      end = Math.min(blob.size - 1, start + this.#rng.int(0, 2 * MiB))
      value = `bytes=${start}-${end}`
    } else {
      const n = this.#rng.int(1, Math.min(blob.size, MiB))
      start = blob.size - n
      value = `bytes=-${n}`
    }
    const { res, t0 } = await this.#authed('blob-range', repo, { path, method: 'GET', headers: { range: value } })
    if (res.statusCode !== 206)
      this.#bad('blob-range', `HTTP ${res.statusCode}`, `GET ${path} Range ${value}: ${await readSome(res)}`)
    const want = `bytes ${start}-${end}/${blob.size}`
    if (header(res, 'content-range') !== want) {
      res.body.destroy()
      this.#bad(
        'blob-range',
        'wrong Content-Range',
        `GET ${path} Range ${value}: Content-Range ${header(res, 'content-range')}, expected ${want}`,
      )
    }
    const body = Buffer.from(await this.#body('blob-range', res, path))
    if (!body.equals(blob.data.subarray(start, end + 1)))
      this.#bad(
        'blob-range',
        'range content mismatch',
        `GET ${path} Range ${value}: ${body.byteLength} bytes differ from the pushed ones`,
      )
    this.#record('blob-range', t0, body.byteLength)
  }

  async #body(kind: Kind, res: Dispatcher.ResponseData, path: string): Promise<ArrayBuffer> {
    try {
      return await res.body.arrayBuffer()
    } catch (err) {
      this.#bad(kind, `body ${errorCode(err)}`, `GET ${path}: ${(err as Error).message}`)
    }
  }

  /**
   * Sends a request with the repository's token when the client holds one. Without one, the 401 is the challenge:
   * the client fetches a token from the realm it names (with the scope it names) and asks again.
   */
  async #authed(
    kind: Kind,
    repo: string,
    req: { path: string; method: 'GET' | 'HEAD'; headers?: Record<string, string> },
  ): Promise<{ res: Dispatcher.ResponseData; t0: number }> {
    const held = this.#tokens.get(repo)
    const fresh = held && held.renewAt > Date.now() ? held.token : undefined
    let t0 = performance.now()
    const res = await this.#send(kind, {
      ...req,
      headers: { ...req.headers, ...(fresh ? { authorization: `Bearer ${fresh}` } : {}) },
    })
    if (res.statusCode !== 401) return { res, t0 }
    await res.body.dump()
    const challenge = parseBearerChallenge(header(res, 'www-authenticate'))
    if (fresh || !challenge) {
      this.#bad(
        kind,
        fresh ? 'HTTP 401 with a fresh token' : 'HTTP 401 without a Bearer challenge',
        `${req.method} ${req.path}: ${header(res, 'www-authenticate') ?? ''}`,
      )
    }
    this.#record('challenge', t0)
    const token = await this.#token(challenge!, repo)
    t0 = performance.now()
    const again = await this.#send(kind, { ...req, headers: { ...req.headers, authorization: `Bearer ${token}` } })
    if (again.statusCode === 401) {
      await again.body.dump()
      this.#bad(kind, 'HTTP 401 with a new token', `${req.method} ${req.path}`)
    }
    return { res: again, t0 }
  }

  async #token(challenge: BearerChallenge, repo: string): Promise<string> {
    const url = new URL(challenge.realm)
    if (challenge.service) url.searchParams.set('service', challenge.service)
    url.searchParams.set('scope', challenge.scope ?? `repository:${repo}:pull`)
    if (url.origin !== this.#s.originUrl) this.#bad('token', 'realm is not the origin', challenge.realm)
    if (this.#s.stopped()) throw new RequestFailed('stopped')
    requests++
    const t0 = performance.now()
    let res: Dispatcher.ResponseData
    try {
      res = await this.#s.origin.request({
        path: url.pathname + url.search,
        method: 'GET',
        headers: { authorization: this.#s.basic },
        headersTimeout: REQUEST_TIMEOUT_MS,
        bodyTimeout: REQUEST_TIMEOUT_MS,
      })
    } catch (err) {
      this.#bad('token', `connection ${errorCode(err)}`, `GET ${url.pathname}${url.search}: ${(err as Error).message}`)
    }
    if (res.statusCode !== 200)
      this.#bad('token', `HTTP ${res.statusCode}`, `GET ${url.pathname}${url.search}: ${await readSome(res)}`)
    const body = (await res.body.json()) as { token?: string; expires_in?: number }
    if (!body.token) this.#bad('token', 'no token in the answer', JSON.stringify(body).slice(0, 200))
    const ttl = Math.max((body.expires_in ?? 60) - 30, 10)
    this.#tokens.set(repo, { token: body.token!, renewAt: Date.now() + ttl * 1000 })
    this.#record('token', t0)
    return body.token!
  }

  async #send(
    kind: Kind,
    req: { path: string; method: 'GET' | 'HEAD'; headers?: Record<string, string> },
  ): Promise<Dispatcher.ResponseData> {
    if (this.#s.stopped()) throw new RequestFailed('stopped')
    requests++
    try {
      return await this.#s.cache.request({
        path: req.path,
        method: req.method,
        headers: req.headers ?? {},
        headersTimeout: REQUEST_TIMEOUT_MS,
        bodyTimeout: REQUEST_TIMEOUT_MS,
      })
    } catch (err) {
      const code = errorCode(err)
      this.#bad(
        kind,
        code.includes('TIMEOUT') ? `timeout ${code}` : `connection ${code}`,
        `${req.method} ${req.path}: ${(err as Error).message}`,
      )
    }
  }

  #record(kind: Kind, t0: number, bytes = 0): void {
    latencies.get(kind)!.push(performance.now() - t0)
    bodyBytes += bytes
  }

  #bad(kind: Kind, what: string, example: string): never {
    fail(kind, what, example)
    throw new RequestFailed(what)
  }
}

// ------------------------------------------------------------------------------------------------ run

interface Series {
  origin: ProcSample[]
  cache: ProcSample[]
  bench: { t: number; rssMB: number; cpuSeconds: number }[]
  /** Requests and bytes so far, and the machine's 1-minute load average (other work on the 2 cores shows there). */
  load: { t: number; requests: number; bodyBytes: number; errors: number; loadavg1: number }[]
  /** Connections waiting in each program's accept queue. */
  backlog: { t: number; cache?: number; origin?: number }[]
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2))
  const startedAt = new Date()
  const loadAtStart = machineInfo().loadavg
  const command = `npm run bench:soak${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`
  note(`${command}: ${opts.clients} clients for ${opts.minutes} min (${opts.quick ? 'quick' : 'full'})`)
  if (opts.committed) await useCommittedPrograms()
  note(`programs from ${programsRoot()}${opts.committed ? ' (HEAD, unpacked)' : ''}`)
  const rng = new Rng(`soak:${opts.seed}`)

  const origin = await startWharfOrigin({ keep: opts.keep })
  const servers: BenchServer[] = [origin]
  const stopAll = async () => {
    for (const s of [...servers].reverse()) await s.stop().catch(() => undefined)
  }
  process.once('SIGINT', () => void stopAll().finally(() => process.exit(130)))
  process.once('SIGTERM', () => void stopAll().finally(() => process.exit(143)))
  let result: Record<string, unknown>
  let markdown: string
  try {
    const cache = await startWharfCache(origin, { keep: opts.keep, maxBytes: opts.cacheMaxBytes, tagTtl: '30s' })
    servers.push(cache)
    for (const s of servers) note(`${s.label} pid ${s.pid} on ${s.url} (${s.version})`)

    // ---- the soak's user and its repositories, pushed through the registry API
    const user = { username: 'soak', password: randomBytes(18).toString('base64url') }
    await createUser(origin, user)
    const pusher = new BenchClient(origin.url, { credentials: user, connections: 8, timeoutMs: 120_000 })
    note(
      `pushing ${opts.blobs} blobs (1 KiB to 4 MiB) and ${opts.large.length} large ones (${opts.large.map(formatSize).join(', ')})`,
    )
    const data = await buildDataSet(opts, pusher, rng)
    note(
      `pushed ${data.blobCount} blobs (${round(data.blobBytes / MB, 0)} MB) and ${data.manifests} manifests in ${round(data.pushSeconds, 1)} s; ` +
        `${data.targets.length} tags to pull`,
    )

    // ---- load
    const cachePool = new Pool(cache.url, { connections: opts.clients, pipelining: 1, keepAliveTimeout: 30_000 })
    const originPool = new Pool(origin.url, { connections: 64, pipelining: 1, keepAliveTimeout: 30_000 })
    const durationMs = opts.minutes * 60_000
    const warm: [Target, number][] = data.targets.map((t) => [t, t.weight])
    const fresh: Target[] = []
    let stop = false
    const tLoad0 = performance.now()
    const shared: Shared = {
      cache: cachePool,
      origin: originPool,
      originUrl: new URL(origin.url).origin,
      basic: `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`,
      stopped: () => stop || requests >= opts.maxRequests || performance.now() - tLoad0 >= durationMs,
    }
    const series: Series = { origin: [], cache: [], bench: [], load: [], backlog: [] }
    const before = { origin: await sampleProc(origin.pid, 0), cache: await sampleProc(cache.pid, 0) }
    const io0 = await readProcIo(origin.pid)
    const fdLimits = { origin: await openFileLimit(origin.pid), cache: await openFileLimit(cache.pid) }
    const cpu0 = process.cpuUsage()
    const errorCount = () => [...errors.values()].reduce((a, e) => a + e.count, 0)

    // sampler: every --sample-seconds, the two programs and this process; a program that exits is an error
    const sampler = (async () => {
      while (!shared.stopped()) {
        await sleep(opts.sampleS * 1000)
        const t = (performance.now() - tLoad0) / 1000
        for (const [name, s] of [
          ['origin', origin],
          ['cache', cache],
        ] as const) {
          const sample = await sampleProc(s.pid, t)
          if (sample) series[name].push(sample)
          const exit = s.exitStatus()
          if (exit) {
            fail('process', `${s.label} exited`, `${s.label} exited (${exit}) at ${round(t, 1)} s; log ${s.logFile}`)
            stop = true
          }
        }
        const cpu = process.cpuUsage(cpu0)
        series.bench.push({
          t: round(t, 1),
          rssMB: round(process.memoryUsage().rss / MB),
          cpuSeconds: round((cpu.user + cpu.system) / 1e6, 2),
        })
        series.load.push({
          t: round(t, 1),
          requests,
          bodyBytes,
          errors: errorCount(),
          loadavg1: round(loadavg()[0]!, 2),
        })
        const backlog = {
          t: round(t, 1),
          cache: await acceptBacklog(portOf(cache)),
          origin: await acceptBacklog(portOf(origin)),
        }
        series.backlog.push(backlog)
        const last = series.load.at(-2)
        const dt = last ? t - last.t : t
        note(
          `${round(t, 0)} s: ${requests} requests (${round((requests - (last?.requests ?? 0)) / dt, 0)}/s), ` +
            `${errorCount()} errors, cache RSS ${series.cache.at(-1)?.rssMB} MB fds ${series.cache.at(-1)?.fds} ` +
            `accept queue ${backlog.cache ?? '?'}, origin RSS ${series.origin.at(-1)?.rssMB} MB fds ${series.origin.at(-1)?.fds}`,
        )
      }
    })()

    // pusher: a new image in a live repository every --push-interval; its tag becomes a fresh target
    const pushRng = Rng.derive(opts.seed, 'pusher')
    const pushLoop = (async () => {
      let n = 0
      while (!shared.stopped()) {
        await sleep(opts.pushIntervalS * 1000)
        if (shared.stopped()) break
        const live = data.live[n++ % data.live.length]!
        live.version++
        const t0 = performance.now()
        try {
          const m = await pushLiveImage(pusher, live.repo, live.version, pushRng)
          pushStats.images++
          pushStats.blobs += m.blobs.length
          pushStats.ms.push(performance.now() - t0)
          fresh.push({ repo: live.repo, tag: `v${live.version}`, manifest: m, moving: false, weight: 1 })
          if (fresh.length > 4) fresh.shift()
        } catch (err) {
          pushStats.failed++
          fail('push', 'push failed', `${live.repo} v${live.version}: ${(err as Error).message}`)
        }
      }
    })()

    note(`load: ${opts.clients} clients`)
    const clients = Array.from(
      { length: opts.clients },
      (_, i) =>
        new SoakClient(
          shared,
          Rng.derive(opts.seed, `client-${i}`),
          () => ({ warm, fresh }),
          opts.freshShare,
          opts.thinkMs,
        ),
    )
    await Promise.all(clients.map((c) => c.run()))
    const loadSeconds = (performance.now() - tLoad0) / 1000
    stop = true
    await Promise.all([sampler, pushLoop])
    const cpu = process.cpuUsage(cpu0)
    const endSamples = {
      origin: await sampleProc(origin.pid, loadSeconds),
      cache: await sampleProc(cache.pid, loadSeconds),
    }
    if (endSamples.origin) series.origin.push(endSamples.origin)
    if (endSamples.cache) series.cache.push(endSamples.cache)
    const io1 = await readProcIo(origin.pid).catch(() => io0)
    const cacheMetrics = await scrapeMetrics(cache.url)

    // ---- after: the clients disconnect; descriptors and memory should fall back, and both still answer
    await Promise.all([cachePool.close(), originPool.close(), pusher.close()])
    await sleep(3000)
    const after = {
      origin: await sampleProc(origin.pid, loadSeconds + 3),
      cache: await sampleProc(cache.pid, loadSeconds + 3),
    }
    for (const s of servers) {
      const exit = s.exitStatus()
      if (exit) fail('process', `${s.label} exited`, `${s.label} exited (${exit}); log ${s.logFile}`)
      else if (!(await answers(s.url))) fail('process', `${s.label} does not answer`, `GET ${s.url}/v2/ after the load`)
    }

    // ---- report
    const kinds = KINDS.map((k) => ({
      kind: k,
      requests: latencies.get(k)!.length + kindErrors.get(k)!,
      errors: kindErrors.get(k)!,
      ...percentiles(latencies.get(k)!),
    }))
    const totalErrors = errorCount()
    const baselineS = loadSeconds >= 180 ? 60 : loadSeconds / 4
    const queue = (name: 'cache' | 'origin') => {
      const xs = series.backlog.map((b) => b[name]).filter((x): x is number => x !== undefined)
      return xs.length ? { max: Math.max(...xs), median: percentiles(xs).p50Ms } : {}
    }
    const proc = {
      origin: {
        ...procSummary(before.origin, series.origin, after.origin, baselineS, loadSeconds, fdLimits.origin),
        acceptQueue: queue('origin'),
      },
      cache: {
        ...procSummary(before.cache, series.cache, after.cache, baselineS, loadSeconds, fdLimits.cache),
        acceptQueue: queue('cache'),
      },
    }
    const uniqueBlobBytes = [...blobDone].reduce((a, d) => a + (blobsByDigest.get(d)?.size ?? 0), 0)
    const summary = {
      clients: opts.clients,
      seconds: round(loadSeconds, 1),
      requests,
      errors: totalErrors,
      requestsPerSecond: round(requests / loadSeconds, 0),
      bodyMB: round(bodyBytes / MB, 0),
      bodyMBPerSecond: round(bodyBytes / MB / loadSeconds, 1),
      distinctBlobsPulled: blobDone.size,
      distinctBlobMB: round(uniqueBlobBytes / MB, 0),
      // everything the origin wrote (sockets, and files: pushed blobs, SQLite), not only what it sent to the cache
      originWcharMB: round((io1.wchar - io0.wchar) / MB, 0),
      cacheFromUpstreamMB: round((cacheMetrics.wharf_cache_bytes_from_upstream_total ?? Number.NaN) / MB, 0),
      imagesPushedDuringRun: pushStats.images,
      blobsPushedDuringRun: pushStats.blobs,
      pushFailures: pushStats.failed,
      pushP50Ms: percentiles(pushStats.ms).p50Ms,
      benchCpuSeconds: round((cpu.user + cpu.system) / 1e6, 1),
    }
    result = {
      ...runHeader({ benchmark: 'soak', command, startedAt, loadAtStart, servers }),
      mode: opts.quick ? 'quick' : 'full',
      params: {
        clients: opts.clients,
        minutes: opts.minutes,
        maxRequests: opts.maxRequests,
        seed: opts.seed,
        blobs: opts.blobs,
        large: opts.large.map(formatSize),
        appRepos: opts.appRepos,
        liveRepos: opts.liveRepos,
        pushIntervalSeconds: opts.pushIntervalS,
        freshShare: opts.freshShare,
        thinkMs: opts.thinkMs,
        cacheMaxBytes: opts.cacheMaxBytes,
        sampleSeconds: opts.sampleS,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        tokenTtl: 'origin default (5m)',
        cacheTagTtl: '30s',
      },
      dataSet: {
        blobs: data.blobCount,
        blobMB: round(data.blobBytes / MB, 0),
        manifests: data.manifests,
        tags: data.targets.length,
        pushSeconds: round(data.pushSeconds, 1),
      },
      summary,
      kinds,
      errors: [...errors.entries()].map(([kind, e]) => ({ kind, count: e.count, examples: e.examples })),
      processes: proc,
      cacheMetrics,
      series,
    }
    markdown = render(result, summary, kinds, proc, cacheMetrics, baselineS)
  } finally {
    await stopAll()
  }
  const dir = join(REPO_ROOT, 'bench', 'results')
  await mkdir(dir, { recursive: true })
  const file = join(
    dir,
    `soak-${startedAt.toISOString().slice(0, 16).replace(':', '')}${opts.quick ? '-quick' : ''}.json`,
  )
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`)
  note(`results: ${file}`)
  console.log(markdown)
  if ((result.summary as { errors: number }).errors > 0) process.exitCode = 1
}

function portOf(s: BenchServer): number {
  return Number(new URL(s.url).port)
}

async function createUser(origin: BenchServer, user: { username: string; password: string }): Promise<void> {
  const admin = origin.credentials!
  const pool = new Pool(origin.url, { connections: 1 })
  try {
    const res = await pool.request({
      path: '/api/v0/accounts',
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${admin.username}:${admin.password}`).toString('base64')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ name: user.username, kind: 'user', password: user.password }),
    })
    const text = await res.body.text()
    if (res.statusCode !== 201) throw new Error(`creating user ${user.username}: HTTP ${res.statusCode} ${text}`)
  } finally {
    await pool.close()
  }
}

async function answers(url: string): Promise<boolean> {
  const pool = new Pool(url, { connections: 1 })
  try {
    const res = await pool.request({ path: '/v2/', method: 'GET', headersTimeout: 10_000, bodyTimeout: 10_000 })
    await res.body.dump()
    return res.statusCode === 401 || res.statusCode === 200
  } catch {
    return false
  } finally {
    await pool.close()
  }
}

/** The cache's Prometheus counters summed over their labels (per-repository families left out). */
async function scrapeMetrics(url: string): Promise<Record<string, number>> {
  const pool = new Pool(url, { connections: 1 })
  try {
    const res = await pool.request({ path: '/metrics', method: 'GET', headersTimeout: 10_000, bodyTimeout: 10_000 })
    const text = await res.body.text()
    if (res.statusCode !== 200) return {}
    const out: Record<string, number> = {}
    for (const line of text.split('\n')) {
      const m = /^(wharf_cache_[a-z_]+)(\{[^}]*\})?\s+([-\d.e+]+)$/.exec(line)
      if (!m || m[1]!.includes('_repository_')) continue
      out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[3])
    }
    return out
  } catch {
    return {}
  } finally {
    await pool.close()
  }
}

function percentiles(xs: number[]): { p50Ms: number; p99Ms: number; maxMs: number; meanMs: number } {
  if (xs.length === 0) return { p50Ms: Number.NaN, p99Ms: Number.NaN, maxMs: Number.NaN, meanMs: Number.NaN }
  const s = Float64Array.from(xs).sort()
  const at = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!
  const mean = s.reduce((a, b) => a + b, 0) / s.length
  return {
    p50Ms: round(at(0.5), 1),
    p99Ms: round(at(0.99), 1),
    maxMs: round(s[s.length - 1]!, 1),
    meanMs: round(mean, 1),
  }
}

interface ProcSummary {
  /** Connections waiting to be accepted, over the samples. */
  acceptQueue?: { max?: number; median?: number }
  rssMB: {
    before?: number
    atBaseline?: number
    end?: number
    max?: number
    growthAfterBaseline?: number
    after?: number
  }
  fds: { before?: number; atBaseline?: number; end?: number; max?: number; after?: number; limit?: number }
  cpuSeconds?: number
  cpuCores?: number
  samples: number
}

function procSummary(
  before: ProcSample | undefined,
  samples: ProcSample[],
  after: ProcSample | undefined,
  baselineS: number,
  seconds: number,
  fdLimit: number | undefined,
): ProcSummary {
  const base = samples.find((s) => s.t >= baselineS) ?? samples.at(-1)
  const end = samples.at(-1)
  const maxOf = (f: (s: ProcSample) => number) => (samples.length ? Math.max(...samples.map(f)) : undefined)
  const cpu = end && before ? round(end.cpuSeconds - before.cpuSeconds, 1) : undefined
  return {
    rssMB: {
      before: before?.rssMB,
      atBaseline: base?.rssMB,
      end: end?.rssMB,
      max: maxOf((s) => s.rssMB),
      growthAfterBaseline: base && end ? round(end.rssMB - base.rssMB) : undefined,
      after: after?.rssMB,
    },
    fds: {
      before: before?.fds,
      atBaseline: base?.fds,
      end: end?.fds,
      max: maxOf((s) => s.fds),
      after: after?.fds,
      limit: fdLimit,
    },
    cpuSeconds: cpu,
    cpuCores: cpu !== undefined ? round(cpu / seconds, 2) : undefined,
    samples: samples.length,
  }
}

function render(
  result: Record<string, unknown>,
  s: Record<string, number>,
  kinds: { kind: string; requests: number; errors: number; p50Ms: number; p99Ms: number; maxMs: number }[],
  proc: { origin: ProcSummary; cache: ProcSummary },
  metrics: Record<string, number>,
  baselineS: number,
): string {
  const m = result.machine as ReturnType<typeof machineInfo> & { loadavgAtStart: number[] }
  const errs = result.errors as { kind: string; count: number; examples: string[] }[]
  const v = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '–' : String(x))
  const base = baselineS === 60 ? '1 min' : `${round(baselineS, 0)} s`
  const lines = [
    `Soak, ${String(result.mode)} mode, ${String(result.finishedAt).slice(0, 16)}Z: ${s.clients} concurrent clients through a cache node ` +
      `from a real origin for ${s.seconds} s, ${m.cpus}× ${m.cpuModel}, Node ${m.node}; load average at start ${m.loadavgAtStart.join(' ')}, at end ${m.loadavg.join(' ')}.`,
    `Command: \`${String(result.command)}\`. Latency: request sent to last byte read, at the client (which shares the 2 cores and hashes every blob).`,
    '',
    markdownTable(
      [
        'requests',
        'errors',
        'req/s',
        'body MB',
        'MB/s',
        'distinct blobs pulled (MB)',
        'cache fetched from the origin, MB',
        'images pushed during the run',
      ],
      [
        [
          v(s.requests),
          v(s.errors),
          v(s.requestsPerSecond),
          v(s.bodyMB),
          v(s.bodyMBPerSecond),
          `${s.distinctBlobsPulled} (${s.distinctBlobMB})`,
          v(s.cacheFromUpstreamMB),
          `${s.imagesPushedDuringRun} (${s.blobsPushedDuringRun} blobs)`,
        ],
      ],
    ),
    '',
    markdownTable(
      ['kind', 'requests', 'errors', 'p50 ms', 'p99 ms', 'max ms'],
      kinds.map((k) => [k.kind, v(k.requests), v(k.errors), v(k.p50Ms), v(k.p99Ms), v(k.maxMs)]),
    ),
    '',
    markdownTable(
      [
        'program',
        `RSS MB: before, at ${base}, end, max`,
        `growth after ${base}`,
        'RSS after the clients left',
        `fds: before, at ${base}, end, max`,
        'fds after the clients left',
        'accept queue: median, max',
        'CPU s (cores)',
      ],
      (['cache', 'origin'] as const).map((name) => {
        const p = proc[name]
        return [
          name === 'cache' ? 'cache node' : 'origin',
          `${v(p.rssMB.before)}, ${v(p.rssMB.atBaseline)}, ${v(p.rssMB.end)}, ${v(p.rssMB.max)}`,
          v(p.rssMB.growthAfterBaseline),
          v(p.rssMB.after),
          `${v(p.fds.before)}, ${v(p.fds.atBaseline)}, ${v(p.fds.end)}, ${v(p.fds.max)}`,
          `${v(p.fds.after)} (limit ${v(p.fds.limit)})`,
          `${v(p.acceptQueue?.median)}, ${v(p.acceptQueue?.max)}`,
          `${v(p.cpuSeconds)} (${v(p.cpuCores)})`,
        ]
      }),
    ),
    '',
    `Cache counters: hits ${v(metrics.wharf_cache_hits_total)}, misses ${v(metrics.wharf_cache_misses_total)}, coalesced ${v(metrics.wharf_cache_coalesced_total)}, ` +
      `stale ${v(metrics.wharf_cache_stale_total)}, upstream errors ${v(metrics.wharf_cache_upstream_errors_total ?? 0)}, evictions ${v(metrics.wharf_cache_evictions_total ?? 0)}; ` +
      `bytes to clients ${v(round((metrics.wharf_cache_bytes_to_clients_total ?? 0) / MB, 0))} MB, from upstream ${v(round((metrics.wharf_cache_bytes_from_upstream_total ?? 0) / MB, 0))} MB. ` +
      `The bench client used ${v(s.benchCpuSeconds)} CPU s.`,
  ]
  if (errs.length) {
    lines.push(
      '',
      markdownTable(
        ['error', 'count', 'first example'],
        errs.map((e) => [e.kind, String(e.count), (e.examples[0] ?? '').replace(/\|/g, '\\|')]),
      ),
    )
  } else {
    lines.push(
      '',
      'No errors: every status as expected, no connection error or timeout, every digest, size and range matched.',
    )
  }
  return `${lines.join('\n')}\n`
}

main().catch((err: unknown) => {
  console.error(`soak failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  process.exitCode = 1
})
