/**
 * The fuzz's request generators. A case is a short sequence of requests (an upload's POST, PATCH and PUT; a login
 * and a logout; one request for most) drawn from its own seeded PRNG, so case K of seed S is the same requests in
 * every run. The families cover /v2/ (names, references, digests in queries, Range, uploads, manifests, auth),
 * /auth/token, /api/v0 of the origin and the control plane (JSON bodies), and raw HTTP that clients would not send.
 *
 * What the fuzz must not break, so later cases still reach deep code: the admin account and its session, token and
 * personal access token, the repositories fuzz/r0 to fuzz/r3 with their blobs and tags, and the control plane site
 * "fuzz-site" whose credential the harness holds. Those are left out of the destructive requests' name pools.
 */
import { createHash, createHmac, generateKeyPairSync, randomUUID, sign } from 'node:crypto'
import { deepText, jsonText, mutateJson, toJ, WEIRD_STRINGS, type J } from './fuzz-json.ts'
import type { Rng } from './prng.ts'

export type TargetName = 'origin' | 'cache' | 'cp'

export interface FuzzReq {
  target: TargetName
  method: string
  /** The request target as sent: may hold bytes no client library accepts (then it goes out raw). */
  path: string
  headers?: Record<string, string>
  body?: Buffer | string
  /** Send the body without a length (Transfer-Encoding: chunked). */
  chunked?: boolean
  /** The whole request as bytes, sent as they are (Host and framing are the generator's business). */
  raw?: Buffer
  /** A raw request left incomplete on purpose (a body shorter than its length): no answer is acceptable. */
  incomplete?: boolean
  /** Checks an answer beyond its status: returns what is wrong (a forged token accepted, wrong bytes). */
  check?: (res: FuzzRes) => string | undefined
}

export interface FuzzRes {
  /** 0 without an answer. */
  status: number
  headers: Record<string, string>
  body: Buffer
  outcome: 'answer' | 'closed' | 'timeout' | 'error'
  error?: string
  ms: number
}

export interface KnownBlob {
  repo: string
  digest: string
  size: number
  data: Buffer
}

export interface KnownManifest {
  repo: string
  tag: string
  digest: string
  bytes: Buffer
  mediaType: string
}

/** What the harness set up and hands to every case. */
export interface FuzzEnv {
  ports: Record<TargetName, number>
  hosts: Record<TargetName, string>
  admin: { username: string; password: string }
  user: { username: string; password: string }
  /** The admin's web session cookie value (wharf_session). */
  session: string
  /** The admin's personal access token. */
  pat: string
  /** Registry token of the admin for fuzz/r0..r7 (pull, push, delete) and the catalog. */
  adminToken: string
  /** Registry token of fuzz-u1 (pull on fuzz/r0 only, which it may not read). */
  userToken: string
  /** Origin token with controlplane:admin:*. */
  cpToken: string
  refreshToken: string
  service: string
  /** The control plane site the harness joined as, with its credential. */
  siteId: string
  siteCredential: string
  /** Tokens and credentials that must be refused, with what they are. */
  forged: { label: string; authorization: string }[]
  blobs: KnownBlob[]
  manifests: KnownManifest[]
  /** Address the harness's own good logins come from (X-Forwarded-For; the origin trusts 127.0.0.1 as a proxy). */
  goodAddress: string
}

export interface CaseCtx {
  rng: Rng
  env: FuzzEnv
  send(req: FuzzReq): Promise<FuzzRes>
}

export interface CaseFamily {
  name: string
  weight: number
  run(ctx: CaseCtx): Promise<void>
}

// ------------------------------------------------------------------------------------------------ vocabulary

const PROTECTED_REPOS = ['fuzz/r0', 'fuzz/r1', 'fuzz/r2', 'fuzz/r3']
const SCRATCH_REPOS = ['fuzz/r4', 'fuzz/r5', 'fuzz/r6', 'fuzz/r7']
export const FUZZ_REPOS = [...PROTECTED_REPOS, ...SCRATCH_REPOS]
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json'
const MEDIA_TYPES = [
  OCI_MANIFEST,
  OCI_INDEX,
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/json',
  'application/x-foo',
  'text/plain',
  '',
  `${OCI_MANIFEST}; charset=utf-8`,
  `${OCI_MANIFEST}, ${OCI_INDEX}`,
  'application/vnd.oci.image.manifest.v1+json\u0000',
]

function hex(rng: Rng, n: number): string {
  return rng
    .bytes(Math.ceil(n / 2))
    .toString('hex')
    .slice(0, n)
}

function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`
}

/** A repository name: mostly the fuzz repositories, then every kind of wrong. */
export function genName(rng: Rng, pool: readonly string[] = FUZZ_REPOS): string {
  return rng.weighted<() => string>([
    [() => rng.pick(pool), 40],
    [() => `fuzz/${rng.pick(['a', 'b-c', 'd.e', 'f_g', 'h__i', 'j--k', 'x0'])}${rng.int(0, 99)}`, 8],
    [() => `fuzz/${'a'.repeat(rng.int(240, 400))}`, 4],
    [() => Array.from({ length: rng.int(20, 200) }, () => 'a').join('/'), 2],
    [
      () => rng.pick(['fuzz/ünï', 'fuzz/%C3%BC', 'fuzz/😀', 'fuzz/%F0%9F%98%80', 'fuzz/\u202er0', 'ﬀ/r0', 'fuzz/ＡＢ']),
      6,
    ],
    [
      () =>
        rng.pick([
          '..',
          'fuzz/..',
          'fuzz/../fuzz/r0',
          '../../../etc/passwd',
          'fuzz/%2e%2e/r0',
          '%2e%2e',
          'fuzz/.%2e/r0',
          'fuzz%2fr0',
          'fuzz%2Fr0',
          'fuzz/r0%2f..%2f..%2fadmin',
          '..%2f..%2fetc',
          'fuzz\\..\\r0',
          'fuzz/./r0',
          '.',
          'fuzz/%252e%252e/r0',
        ]),
      10,
    ],
    [
      () => rng.pick(['fuzz/r0%00', 'fuzz/r0\u0000x', '%00', 'fuzz/%00/r0', 'fuzz/r0%0d%0aX-A:1', 'fuzz/r0\r\nX: 1']),
      6,
    ],
    [
      () =>
        rng.pick([
          '',
          'fuzz//r0',
          'fuzz/r0/',
          '-a/b',
          'FUZZ/R0',
          'fuzz/r0?x=1',
          'fuzz/r0%3Fx',
          'fuzz/r0#x',
          'fuzz/r0;x',
          'fuzz/r0 x',
          'fuzz/_',
          'fuzz/blobs',
          'fuzz/manifests/x',
          'fuzz/r0/blobs/uploads',
          'fuzz/tags',
          'fuzz/r0/manifests',
          'admin/x',
          'library/alpine',
          'fuzz',
        ]),
      12,
    ],
  ])()
}

export function genDigest(rng: Rng, known: readonly string[]): string {
  const h = hex(rng, 64)
  return rng.weighted<() => string>([
    [() => rng.pick(known), 30],
    [() => `sha256:${h}`, 15],
    [() => `sha256:${h.toUpperCase()}`, 6],
    [() => `sha256:${h.slice(0, 63)}`, 4],
    [() => `sha256:${h}0`, 4],
    [() => `sha512:${hex(rng, 128)}`, 5],
    [() => `sha512:${h}`, 3],
    [() => `md5:${hex(rng, 32)}`, 3],
    [() => `sha1:${hex(rng, 40)}`, 2],
    [() => `sha256+b64u:${rng.bytes(32).toString('base64url')}`, 2],
    [() => `SHA256:${h}`, 3],
    [
      () =>
        rng.pick([
          'sha256:',
          ':',
          'sha256',
          `:${h}`,
          'sha256:g' + h.slice(1),
          `sha256:${h}%00`,
          `sha256:${h}%0a`,
          `sha256:${'0'.repeat(64)}`,
        ]),
      10,
    ],
    [() => `sha256:${h}${'a'.repeat(rng.int(100, 5000))}`, 3],
    [() => `${rng.pick(known)}`.replace('sha256:', 'sha256%3A'), 3],
    [() => rng.pick(WEIRD_STRINGS.filter((s) => ![...s].some((ch) => ch.charCodeAt(0) <= 0x20))) || 'x', 3],
  ])()
}

export function genReference(rng: Rng, env: FuzzEnv): string {
  const known = env.manifests.map((m) => m.digest)
  return rng.weighted<() => string>([
    [() => rng.pick(['v1', 'latest', 'multi', 'v2']), 25],
    [() => `t${rng.int(0, 1e6)}`, 6],
    [() => 'a'.repeat(rng.int(129, 300)), 4],
    [() => 'a'.repeat(rng.int(1000, 9000)), 2],
    [
      () => rng.pick(['.x', '-x', 'ü', '%00', '..', '%2e%2e', 'v1%2f..', 'v1;x', 'v1 x', '', '%20', 'v1\u0000', 'V1']),
      10,
    ],
    [() => genDigest(rng, known.length ? known : [sha256('x')]), 40],
    [() => rng.pick(env.blobs).digest, 5],
  ])()
}

/** A Range header: the common forms and every broken one. */
export function genRange(rng: Rng, size: number): string {
  const n = Math.max(size, 1)
  return rng.pick([
    'bytes=0-0',
    `bytes=0-${n - 1}`,
    `bytes=${rng.int(0, n - 1)}-`,
    `bytes=-${rng.int(1, n)}`,
    `bytes=${rng.int(0, n)}-${rng.int(0, n)}`,
    `bytes=${n}-`,
    `bytes=${n - 1}-`,
    `bytes=0-${n}`,
    `bytes=0-${n * 10}`,
    'bytes=5-1',
    'bytes=0-1,5-9',
    'bytes=0-0,0-0,0-0',
    `bytes=${Array.from({ length: 300 }, (_, i) => `${i}-${i}`).join(',')}`,
    'bytes=-0',
    'bytes=-1',
    'bytes=-99999999',
    'bytes=99999999999999999999-',
    'bytes=0-99999999999999999999999',
    'bytes=18446744073709551616-18446744073709551617',
    'bytes=--1',
    'bytes=1--2',
    'items=0-1',
    'bytes=',
    'bytes',
    '=0-1',
    'bytes=0-1 ',
    ' bytes=0-1',
    'bytes = 0-1',
    'BYTES=0-1',
    'bytes=1e3-',
    'bytes=0x10-',
    'bytes=-',
    'bytes=0.5-1',
    'bytes=+1-2',
    'bytes=٣-٤',
    'bytes=0-1\u0000',
    'x'.repeat(rng.int(100, 8000)),
  ])
}

/** An Authorization header for /v2/ and /auth/token: good tokens mostly, else every kind of broken or forged. */
function v2Auth(rng: Rng, env: FuzzEnv): { header?: string; forged?: string } {
  const good = env.adminToken
  const mid = good.length >> 1
  const flipped = good.slice(0, mid) + (good[mid] === 'A' ? 'B' : 'A') + good.slice(mid + 1)
  return rng.weighted<() => { header?: string; forged?: string }>([
    [() => ({ header: `Bearer ${good}` }), 50],
    [() => ({ header: `Bearer ${env.userToken}` }), 6],
    [() => ({}), 10],
    [
      () => {
        const f = rng.pick(env.forged)
        return { header: f.authorization, forged: f.label }
      },
      10,
    ],
    [() => ({ header: `Bearer ${flipped}`, forged: 'token with a changed byte' }), 3],
    [
      () => ({
        header: rng.pick([
          'Bearer',
          'Bearer ',
          'Bearer a.b.c',
          'Bearer ...',
          `Bearer ${'A'.repeat(rng.int(1000, 12000))}`,
          `bearer ${good}`,
          `Bearer  ${good}`,
          good,
          `Bearer ${good} extra`,
          `Bearer ${good},Bearer ${good}`,
          'Basic',
          'Basic !!!',
          `Basic ${Buffer.from('nocolon').toString('base64')}`,
          `Basic ${Buffer.from(':').toString('base64')}`,
          `Basic ${Buffer.from(`admin:${'x'.repeat(5000)}`).toString('base64')}`,
          `Basic ${Buffer.from(`${env.admin.username}:${env.admin.password}`).toString('base64')}`,
          `Bearer ${env.pat}`,
          `Bearer ${env.siteCredential}`,
          `Bearer ${env.refreshToken}`,
          'Digest username="admin", realm="x"',
          'Negotiate YII=',
          'Bearer \u00ff\u00fe',
          `Bearer ${good.split('.').slice(0, 2).join('.')}`,
          `Bearer ${good.split('.').slice(0, 2).join('.')}.`,
        ]),
      }),
      21,
    ],
  ])()
}

function withAuth(headers: Record<string, string>, auth: { header?: string }): Record<string, string> {
  return auth.header === undefined ? headers : { ...headers, authorization: auth.header }
}

/** Flags a forged credential that was accepted: any 2xx for a request that needed a real one. */
function refusedForged(label: string | undefined): ((res: FuzzRes) => string | undefined) | undefined {
  if (!label) return undefined
  return (res) =>
    res.status >= 200 && res.status < 300 ? `forged credential accepted (${label}): HTTP ${res.status}` : undefined
}

function b64url(v: unknown): string {
  return Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')
}

/**
 * Credentials that must be refused, built from a real token: alg none, HS256 keyed with the origin's public key,
 * a key of our own under the origin's key id or a jku, the payload widened under the real signature.
 */
export function forgeTokens(realToken: string, publicKeyPem: string): { label: string; token: string }[] {
  const [h, p] = realToken.split('.') as [string, string, string]
  const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>
  const wide = {
    ...payload,
    sub: 'admin',
    access: [
      { type: 'repository', name: '*', actions: ['*'] },
      ...FUZZ_REPOS.map((name) => ({ type: 'repository', name, actions: ['pull', 'push', 'delete'] })),
      { type: 'controlplane', name: 'admin', actions: ['*'] },
    ],
    exp: Math.floor(Date.now() / 1000) + 86_400 * 365,
  }
  const out: { label: string; token: string }[] = []
  out.push({ label: 'alg none', token: `${b64url({ ...header, alg: 'none' })}.${b64url(wide)}.` })
  out.push({
    label: 'alg None, signature kept',
    token: `${b64url({ ...header, alg: 'None' })}.${b64url(wide)}.${realToken.split('.')[2]}`,
  })
  const hsHeader = b64url({ ...header, alg: 'HS256' })
  const hsBody = b64url(wide)
  out.push({
    label: 'HS256 keyed with the public key',
    token: `${hsHeader}.${hsBody}.${createHmac('sha256', publicKeyPem).update(`${hsHeader}.${hsBody}`).digest('base64url')}`,
  })
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const es = (hdr: Record<string, unknown>) => {
    const input = `${b64url(hdr)}.${b64url(wide)}`
    return `${input}.${sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`
  }
  out.push({ label: 'ES256, own key, origin kid', token: es(header) })
  out.push({ label: 'ES256, own key, jku', token: es({ ...header, kid: 'fuzz', jku: 'http://127.0.0.1:1/jwks.json' }) })
  out.push({ label: "kid '../../../../dev/null'", token: es({ ...header, kid: '../../../../dev/null' }) })
  out.push({ label: 'payload widened, real signature', token: `${h}.${b64url(wide)}.${realToken.split('.')[2]}` })
  out.push({
    label: 'expired copy with widened access',
    token: `${h}.${b64url({ ...wide, exp: 1 })}.${realToken.split('.')[2]}`,
  })
  return out
}

// ------------------------------------------------------------------------------------------------ helpers

function v2Target(rng: Rng): TargetName {
  return rng.chance(0.6) ? 'origin' : 'cache'
}

function locationPath(res: FuzzRes): string | undefined {
  const loc = res.headers.location
  if (!loc) return undefined
  try {
    const u = new URL(loc, 'http://127.0.0.1/')
    return u.pathname + u.search
  } catch {
    return undefined
  }
}

/** A destructive request's path with every protected repository (fuzz/r0..r3, however spelled) turned into fuzz/r7. */
function unprotect(path: string): string {
  return path.replace(/r([0-3])(?![0-9A-Za-z_])/g, 'r7')
}

function addQuery(path: string, query: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}${query}`
}

function accept(rng: Rng): string {
  return rng.pick([
    `${OCI_MANIFEST}, ${OCI_INDEX}, application/vnd.docker.distribution.manifest.v2+json`,
    OCI_MANIFEST,
    '*/*',
    'text/html',
    '',
    'application/vnd.docker.distribution.manifest.v1+prettyjws',
    `${'x/y, '.repeat(500)}${OCI_MANIFEST}`,
  ])
}

// ------------------------------------------------------------------------------------------------ families

/** GET/HEAD (and other methods) of manifests, blobs, tags lists and referrers with names, references, queries. */
const v2Read: CaseFamily = {
  name: 'v2 read',
  weight: 20,
  async run({ rng, env, send }) {
    const target = v2Target(rng)
    const name = genName(rng)
    const auth = v2Auth(rng, env)
    const known = env.blobs.map((b) => b.digest)
    const kind = rng.pick(['manifests', 'manifests', 'blobs', 'blobs', 'tags', 'referrers', 'catalog', 'bare'])
    let path: string
    if (kind === 'manifests') path = `/v2/${name}/manifests/${genReference(rng, env)}`
    else if (kind === 'blobs') path = `/v2/${name}/blobs/${genDigest(rng, known)}`
    else if (kind === 'tags') path = `/v2/${name}/tags/list`
    else if (kind === 'referrers')
      path = `/v2/${name}/referrers/${genDigest(
        rng,
        env.manifests.map((m) => m.digest),
      )}`
    else if (kind === 'catalog') path = '/v2/_catalog'
    else path = `/v2/${name}`
    const queries = [
      () => `n=${rng.pick(['0', '1', '-1', '99999999999999999999', 'abc', '1e3', '', '10000'])}`,
      () => `last=${rng.pick(['', 'v1', 'zzzz', '%00', 'a'.repeat(5000), '%ff'])}`,
      () => `artifactType=${encodeURIComponent(rng.pick(['application/x', '', '*', '%', 'a'.repeat(300)]))}`,
      () => `ns=${rng.pick(['docker.io', 'evil.example', '', '%00', '127.0.0.1:1', 'a'.repeat(300)])}`,
      () => `grant=${rng.pick(['', 'x', 'a.b.c', env.adminToken, 'A'.repeat(4000)])}`,
      () => `digest=${encodeURIComponent(genDigest(rng, known))}`,
      () => `digest=${genDigest(rng, known)}&digest=${genDigest(rng, known)}`,
      () => rng.pick(['%zz', '&&&', '=', 'a=%', '?', '#frag', 'a[b]=1', '__proto__[x]=1', 'constructor=1']),
    ]
    const nq = rng.weighted([
      [0, 60],
      [1, 30],
      [2, 10],
    ])
    for (let i = 0; i < nq; i++) path = addQuery(path, rng.pick(queries)())
    const method = rng.weighted<string>([
      ['GET', 55],
      ['HEAD', 25],
      ['DELETE', 4],
      ['PUT', 3],
      ['POST', 3],
      ['PATCH', 2],
      ['OPTIONS', 4],
      ['TRACE', 1],
      ['PROPFIND', 1],
      ['get', 1],
      ['FOO', 1],
    ])
    // deletes only where the fuzz may break things
    if (method === 'DELETE') path = unprotect(path)
    const headers: Record<string, string> = withAuth({}, auth)
    if (kind === 'manifests' && rng.chance(0.8)) headers.accept = accept(rng)
    if (rng.chance(0.15)) headers.range = genRange(rng, rng.pick([0, 1024, 100 * 1024]))
    if (rng.chance(0.08))
      headers['if-none-match'] = rng.pick(['*', '"x"', `"${rng.pick(env.manifests).digest}"`, 'W/"x"', ''])
    const check = refusedForged(
      auth.forged && PROTECTED_REPOS.some((r) => path.startsWith(`/v2/${r}/`)) ? auth.forged : undefined,
    )
    await send({ target, method, path, headers, ...(check ? { check } : {}) })
  },
}

/** Range requests against blobs that exist, with answers checked against their bytes. */
const v2Range: CaseFamily = {
  name: 'v2 range',
  weight: 8,
  async run({ rng, env, send }) {
    const blob = rng.pick(env.blobs)
    const target = v2Target(rng)
    const range = genRange(rng, blob.size)
    const headers: Record<string, string> = { authorization: `Bearer ${env.adminToken}`, range }
    if (rng.chance(0.1))
      headers['if-range'] = rng.pick(['"x"', `"${blob.digest}"`, 'Wed, 21 Oct 2015 07:28:00 GMT', '%00'])
    const method = rng.chance(0.85) ? 'GET' : 'HEAD'
    await send({
      target,
      method,
      path: `/v2/${blob.repo}/blobs/${blob.digest}`,
      headers,
      check: (res) => {
        if (method === 'HEAD') return undefined
        if (
          res.status === 200 &&
          res.body.byteLength === Math.min(blob.size, 256 * 1024) &&
          !res.body.equals(blob.data.subarray(0, res.body.byteLength))
        )
          return 'wrong bytes in a 200 to a Range request'
        if (res.status === 206) {
          const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers['content-range'] ?? '')
          if (!m) return `206 with Content-Range "${res.headers['content-range']}"`
          const start = Number(m[1])
          const end = Number(m[2])
          if (Number(m[3]) !== blob.size || end >= blob.size || start > end)
            return `206 with Content-Range ${res.headers['content-range']} for a blob of ${blob.size}`
          const want = blob.data.subarray(start, Math.min(end + 1, start + res.body.byteLength))
          if (!res.body.subarray(0, want.byteLength).equals(want))
            return `206 ${res.headers['content-range']}: wrong bytes`
        }
        return undefined
      },
    })
  },
}

/** Upload sessions: right and wrong orders, bad Content-Range, lengths, digests, foreign and made-up session ids. */
const v2Upload: CaseFamily = {
  name: 'v2 upload',
  weight: 16,
  async run({ rng, env, send }) {
    const target: TargetName = rng.chance(0.9) ? 'origin' : 'cache'
    const repo = rng.chance(0.85) ? rng.pick(FUZZ_REPOS) : genName(rng)
    const auth = rng.chance(0.85) ? { header: `Bearer ${env.adminToken}` } : v2Auth(rng, env)
    const h = (extra: Record<string, string> = {}) => withAuth(extra, auth)
    const data = rng.bytes(rng.pick([0, 1, 10, 100, 1000, 65_536, 300_000]))
    const digest = sha256(data)
    const wrongDigest = () =>
      rng.pick([
        sha256(Buffer.concat([data, Buffer.from('x')])),
        `sha256:${digest.slice(7).toUpperCase()}`,
        `sha512:${hex(rng, 128)}`,
        'sha256:',
        'x',
        `${digest}&digest=${sha256('y')}`,
        encodeURIComponent(digest),
      ])
    const post = async (query = '', body?: Buffer) => {
      const res = await send({
        target,
        method: 'POST',
        path: `/v2/${repo}/blobs/uploads/${query}`,
        headers: h(body ? { 'content-type': 'application/octet-stream' } : {}),
        ...(body ? { body } : {}),
      })
      return locationPath(res)
    }
    const scenario = rng.int(0, 13)
    if (scenario === 0) {
      // the right order, in chunks
      const loc = await post()
      if (!loc) return
      let next = loc
      const cut = rng.int(0, data.length)
      for (const [from, to] of [
        [0, cut],
        [cut, data.length],
      ] as const) {
        if (to <= from) continue
        const res = await send({
          target,
          method: 'PATCH',
          path: next,
          headers: h({ 'content-type': 'application/octet-stream', 'content-range': `${from}-${to - 1}` }),
          body: data.subarray(from, to),
        })
        next = locationPath(res) ?? next
      }
      await send({ target, method: 'PUT', path: addQuery(next, `digest=${encodeURIComponent(digest)}`), headers: h() })
    } else if (scenario === 1) {
      // monolithic POST, right or wrong digest
      await post(`?digest=${encodeURIComponent(rng.chance(0.5) ? digest : wrongDigest())}`, data)
    } else if (scenario === 2) {
      // POST then PUT with the whole body, right or wrong digest
      const loc = await post()
      if (!loc) return
      await send({
        target,
        method: 'PUT',
        path: addQuery(loc, `digest=${rng.chance(0.4) ? encodeURIComponent(digest) : wrongDigest()}`),
        headers: h({ 'content-type': 'application/octet-stream' }),
        body: data,
      })
    } else if (scenario === 3) {
      // bad Content-Range values
      const loc = await post()
      if (!loc) return
      const cr = rng.pick([
        '50-49',
        '0-0',
        '-1-5',
        'bytes 0-9/10',
        `0-${data.length - 1}/*`,
        '99999999999999999999-1',
        'abc',
        '1-0',
        `1-${data.length}`,
        `0-${data.length + 10}`,
        '',
        ' ',
        '0-',
        '-',
        `0-${data.length - 1}, 0-1`,
      ])
      const res = await send({
        target,
        method: 'PATCH',
        path: loc,
        headers: h({ 'content-type': 'application/octet-stream', 'content-range': cr }),
        body: data,
      })
      await send({ target, method: 'GET', path: locationPath(res) ?? loc, headers: h() })
      await send({ target, method: 'PUT', path: addQuery(loc, `digest=${encodeURIComponent(digest)}`), headers: h() })
    } else if (scenario === 4) {
      // overlapping or gapped chunks
      const loc = await post()
      if (!loc || data.length < 20) return
      const a = rng.int(5, data.length - 5)
      await send({
        target,
        method: 'PATCH',
        path: loc,
        headers: h({ 'content-range': `0-${a - 1}` }),
        body: data.subarray(0, a),
      })
      const start = rng.chance(0.5) ? rng.int(0, a - 1) : rng.int(a + 1, data.length - 1)
      await send({
        target,
        method: 'PATCH',
        path: loc,
        headers: h({ 'content-range': `${start}-${data.length - 1}` }),
        body: data.subarray(start),
      })
      await send({ target, method: 'PUT', path: addQuery(loc, `digest=${encodeURIComponent(digest)}`), headers: h() })
    } else if (scenario === 5) {
      // streamed PATCH without a length, then PUT
      const loc = await post()
      if (!loc) return
      const res = await send({
        target,
        method: 'PATCH',
        path: loc,
        headers: h({ 'content-type': 'application/octet-stream' }),
        body: data,
        chunked: true,
      })
      await send({
        target,
        method: 'PUT',
        path: addQuery(
          locationPath(res) ?? loc,
          `digest=${encodeURIComponent(rng.chance(0.7) ? digest : wrongDigest())}`,
        ),
        headers: h(),
      })
    } else if (scenario === 6) {
      // Content-Length that does not match the body (raw): shorter body is left incomplete, longer spills over
      const loc = await post()
      if (!loc || data.length === 0) return
      const longer = rng.chance(0.5)
      const declared = longer ? Math.max(0, data.length - rng.int(1, data.length)) : data.length + rng.int(1, 1000)
      const head =
        `PATCH ${loc} HTTP/1.1\r\nHost: ${env.hosts[target]}\r\n${auth.header ? `Authorization: ${auth.header}\r\n` : ''}` +
        `Content-Type: application/octet-stream\r\nContent-Length: ${declared}\r\nConnection: close\r\n\r\n`
      await send({
        target,
        method: 'PATCH',
        path: loc,
        raw: Buffer.concat([Buffer.from(head), data]),
        incomplete: !longer,
      })
      await send({ target, method: 'GET', path: loc, headers: h() })
      await send({ target, method: 'PUT', path: addQuery(loc, `digest=${encodeURIComponent(digest)}`), headers: h() })
    } else if (scenario === 7) {
      // PUT without a body: the empty blob's digest, or another
      const loc = await post()
      if (!loc) return
      await send({
        target,
        method: 'PUT',
        path: addQuery(loc, `digest=${encodeURIComponent(rng.chance(0.5) ? sha256('') : digest)}`),
        headers: h(),
      })
      await send({
        target,
        method: 'PUT',
        path: addQuery(loc, `digest=${encodeURIComponent(digest)}`),
        headers: h(),
        body: data,
      })
    } else if (scenario === 8) {
      // wrong orders: PATCH after PUT, DELETE then PATCH, PUT twice
      const loc = await post()
      if (!loc) return
      const order = rng.shuffle(['PATCH', 'PUT', 'DELETE', 'PATCH', 'GET', 'PUT'])
      for (const m of order.slice(0, rng.int(2, 5))) {
        if (m === 'PATCH')
          await send({
            target,
            method: 'PATCH',
            path: loc,
            headers: h({ 'content-type': 'application/octet-stream' }),
            body: data,
          })
        else if (m === 'PUT')
          await send({
            target,
            method: 'PUT',
            path: addQuery(loc, `digest=${encodeURIComponent(digest)}`),
            headers: h(),
          })
        else await send({ target, method: m, path: loc, headers: h() })
      }
    } else if (scenario === 9) {
      // a session of one repository used through another
      const loc = await post()
      if (!loc) return
      const other = rng.pick(FUZZ_REPOS.filter((r) => r !== repo))
      const foreign = loc.replace(`/v2/${repo}/`, `/v2/${other}/`)
      if (foreign === loc) return
      const flag = (res: FuzzRes) =>
        res.status >= 200 && res.status < 300
          ? `upload session of ${repo} used through ${other}: HTTP ${res.status}`
          : undefined
      await send({
        target,
        method: 'PATCH',
        path: foreign,
        headers: h({ 'content-type': 'application/octet-stream' }),
        body: data,
        check: flag,
      })
      await send({ target, method: 'GET', path: foreign, headers: h(), check: flag })
      await send({
        target,
        method: 'PUT',
        path: addQuery(foreign, `digest=${encodeURIComponent(digest)}`),
        headers: h(),
        check: flag,
      })
      await send({ target, method: 'DELETE', path: foreign, headers: h(), check: flag })
    } else if (scenario === 10) {
      // made-up session ids
      const id = rng.pick([
        randomUUID(),
        randomUUID().toUpperCase(),
        '../../x',
        '%2e%2e%2f%2e%2e',
        'a'.repeat(rng.int(100, 5000)),
        '%00',
        '',
        '.',
        '1',
        '-1',
        `${randomUUID()}/extra`,
        '__proto__',
        'constructor',
      ])
      const path = `/v2/${repo}/blobs/uploads/${id}`
      const method = rng.pick(['GET', 'PATCH', 'PUT', 'DELETE'])
      await send({
        target,
        method,
        path: method === 'PUT' ? addQuery(path, `digest=${encodeURIComponent(digest)}`) : path,
        headers: h(),
        ...(method === 'PATCH' || method === 'PUT' ? { body: data } : {}),
      })
    } else if (scenario === 11) {
      // cross-repository mounts
      const blob = rng.pick(env.blobs)
      const from = rng.pick([blob.repo, rng.pick(FUZZ_REPOS), genName(rng), '', '..'])
      const mount = rng.chance(0.6) ? blob.digest : genDigest(rng, [blob.digest])
      const q = rng.pick([
        `?mount=${encodeURIComponent(mount)}&from=${encodeURIComponent(from)}`,
        `?mount=${encodeURIComponent(mount)}`,
        `?from=${encodeURIComponent(from)}`,
        `?mount=${encodeURIComponent(mount)}&from=${encodeURIComponent(from)}&digest=${encodeURIComponent(digest)}`,
        `?mount=&from=`,
      ])
      const loc = await post(q)
      if (loc && loc.includes('/uploads/')) await send({ target, method: 'DELETE', path: loc, headers: h() })
    } else if (scenario === 12) {
      // odd query strings on the closing PUT
      const loc = await post()
      if (!loc) return
      const q = rng.pick([
        'digest=',
        `digest=${encodeURIComponent(digest)}&digest=${encodeURIComponent(digest)}`,
        `DIGEST=${encodeURIComponent(digest)}`,
        `digest=${digest}`,
        'digest=%zz',
        `digest=${encodeURIComponent(digest)}%00`,
        `digest[]=${encodeURIComponent(digest)}`,
      ])
      await send({ target, method: 'PUT', path: addQuery(loc, q), headers: h(), body: data })
    } else {
      // POST with a body (ignored or refused), and Expect: 100-continue (raw)
      const loc = await post('', data)
      if (!loc) return
      const head =
        `PATCH ${loc} HTTP/1.1\r\nHost: ${env.hosts[target]}\r\n${auth.header ? `Authorization: ${auth.header}\r\n` : ''}` +
        `Expect: ${rng.pick(['100-continue', 'garbage'])}\r\nContent-Length: ${data.length}\r\nConnection: close\r\n\r\n`
      await send({ target, method: 'PATCH', path: loc, raw: Buffer.concat([Buffer.from(head), data]) })
      await send({ target, method: 'PUT', path: addQuery(loc, `digest=${encodeURIComponent(digest)}`), headers: h() })
    }
  },
}

/** Manifest PUTs: invalid JSON, deep nesting, huge bodies, wrong media types, missing blobs, digest references. */
const v2Manifest: CaseFamily = {
  name: 'v2 manifest',
  weight: 11,
  async run({ rng, env, send }) {
    const repo = rng.chance(0.7) ? rng.pick(SCRATCH_REPOS) : rng.chance(0.5) ? rng.pick(PROTECTED_REPOS) : genName(rng)
    const r0 = env.blobs.filter((b) => b.repo === 'fuzz/r0')
    const desc = (b: KnownBlob, mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip') => ({
      mediaType,
      digest: b.digest,
      size: b.size,
    })
    const config = r0[0]!
    const valid = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: desc(config, OCI_CONFIG),
      layers: r0.slice(1).map((b) => desc(b)),
    }
    let body: string
    let contentType: string = OCI_MANIFEST
    const m = rng.int(0, 13)
    if (m === 0) body = JSON.stringify(valid)
    else if (m === 1) body = mutateJson(rng, valid).text
    else if (m === 2) body = deepText(rng, rng.logUniform(100, 200_000))
    else if (m === 3)
      body = JSON.stringify({
        ...valid,
        annotations: {
          big: 'x'.repeat(rng.pick([1000, 4 * 1024 * 1024 - 300, 4 * 1024 * 1024 + 10, 6 * 1024 * 1024])),
        },
      })
    else if (m === 4) {
      body = JSON.stringify(valid)
      contentType = rng.pick(MEDIA_TYPES)
    } else if (m === 5) body = JSON.stringify({ ...valid, mediaType: rng.pick(MEDIA_TYPES) })
    else if (m === 6)
      body = JSON.stringify({
        ...valid,
        layers: [
          ...valid.layers,
          { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${hex(rng, 64)}`, size: 10 },
        ],
      })
    else if (m === 7)
      body = JSON.stringify({
        ...valid,
        config: {
          ...valid.config,
          digest: genDigest(rng, [config.digest]),
          size: rng.pick([-1, 0.5, 2 ** 64, '10', null, 1e308]),
        },
      })
    else if (m === 8) {
      contentType = OCI_INDEX
      body = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          ...env.manifests
            .filter((x) => x.repo === repo)
            .map((x) => ({ mediaType: x.mediaType, digest: x.digest, size: x.bytes.byteLength })),
          {
            mediaType: OCI_MANIFEST,
            digest: rng.chance(0.5) ? `sha256:${hex(rng, 64)}` : rng.pick(env.manifests).digest,
            size: rng.int(0, 1e6),
            platform: { os: 'linux', architecture: 'amd64' },
          },
        ],
      })
    } else if (m === 9)
      body = JSON.stringify({
        ...valid,
        subject: {
          mediaType: OCI_MANIFEST,
          digest: rng.chance(0.5) ? `sha256:${hex(rng, 64)}` : rng.pick(env.manifests).digest,
          size: 100,
        },
        artifactType: rng.pick(['application/x-fuzz', '', 'a'.repeat(300)]),
      })
    else if (m === 10)
      body = JSON.stringify({
        schemaVersion: 1,
        name: repo,
        tag: 'v1',
        fsLayers: [{ blobSum: config.digest }],
        history: [],
        signatures: [{ header: {}, signature: 'x', protected: 'x' }],
      })
    else if (m === 11)
      body = JSON.stringify({
        ...valid,
        layers: Array.from({ length: rng.logUniform(100, 30_000) }, () => desc(rng.pick(r0))),
      })
    else if (m === 12)
      body = rng.pick([
        '',
        '{}',
        '[]',
        'null',
        '{"schemaVersion":2}',
        '{"schemaVersion":"2"}',
        '{"schemaVersion":2,"mediaType":null}',
        Buffer.from(rng.bytes(100)).toString('latin1'),
      ])
    else
      body = jsonText({
        obj: [
          ['__proto__', { obj: [['schemaVersion', 2]] }],
          ...(toJ(valid) as { obj: [string, J][] }).obj,
          ['constructor', { obj: [['prototype', { obj: [['x', 1]] }]] }],
        ],
      })
    const digest = sha256(body)
    const ref = rng.weighted<string>([
      [rng.pick(['v1', 'fuzz', `t${rng.int(0, 99)}`]), 50],
      [digest, 20],
      [`sha256:${hex(rng, 64)}`, 8],
      [`sha256:${digest.slice(7).toUpperCase()}`, 5],
      [`sha512:${hex(rng, 128)}`, 4],
      [genReference(rng, env), 13],
    ])
    // tags of the protected repositories stay as they are
    const safeRef = PROTECTED_REPOS.includes(repo) && !ref.includes(':') ? `f${ref}` : ref
    const auth = rng.chance(0.9) ? { header: `Bearer ${env.adminToken}` } : v2Auth(rng, env)
    const res = await send({
      target: rng.chance(0.93) ? 'origin' : 'cache',
      method: 'PUT',
      path: `/v2/${repo}/manifests/${safeRef}`,
      headers: withAuth(contentType === '' ? {} : { 'content-type': contentType }, auth),
      body,
      ...(rng.chance(0.1) ? { chunked: true } : {}),
    })
    if (res.status === 201 && rng.chance(0.6)) {
      const d = res.headers['docker-content-digest'] ?? digest
      await send({
        target: v2Target(rng),
        method: 'GET',
        path: `/v2/${repo}/manifests/${d}`,
        headers: { authorization: `Bearer ${env.adminToken}`, accept: accept(rng) },
      })
      if (m === 9)
        await send({
          target: v2Target(rng),
          method: 'GET',
          path: `/v2/${repo}/referrers/${rng.pick(env.manifests).digest}`,
          headers: { authorization: `Bearer ${env.adminToken}` },
        })
      if (!PROTECTED_REPOS.includes(repo) && rng.chance(0.5))
        await send({
          target: 'origin',
          method: 'DELETE',
          path: `/v2/${repo}/manifests/${rng.chance(0.5) ? d : safeRef}`,
          headers: { authorization: `Bearer ${env.adminToken}` },
        })
    }
  },
}

/** The token endpoint: scopes, services, basic credentials, OAuth2 forms, refresh tokens, and the JWKS. */
const authToken: CaseFamily = {
  name: 'auth token',
  weight: 10,
  async run({ rng, env, send }) {
    const scope = () =>
      rng.pick([
        `repository:${rng.pick(FUZZ_REPOS)}:pull`,
        `repository:${rng.pick(FUZZ_REPOS)}:pull,push,delete`,
        `repository:${genName(rng)}:pull`,
        'repository:::',
        'repository',
        'repository:fuzz/r0',
        'repository:fuzz/r0:',
        'repository:fuzz/r0:*',
        'repository:fuzz/r0:pull,push,*,delete,pull',
        'registry:catalog:*',
        'controlplane:admin:*',
        'controlplane:origin:*',
        'repository(plugin):fuzz/r0:pull',
        'repository:fuzz/r0:pull repository:fuzz/r1:push',
        'x'.repeat(rng.int(100, 6000)),
        ':',
        '%00',
        'repository:ü:pull',
        'repository:fuzz/r0:pull%00',
        'repository:localhost:5000/fuzz/r0:pull',
        '',
      ])
    const good = `Basic ${Buffer.from(`${env.admin.username}:${env.admin.password}`).toString('base64')}`
    const userGood = `Basic ${Buffer.from(`${env.user.username}:${env.user.password}`).toString('base64')}`
    const basic = () =>
      rng.weighted<string | undefined>([
        [good, 25],
        [userGood, 10],
        [undefined, 15],
        [`Basic ${Buffer.from(`${env.admin.username}:wrong`).toString('base64')}`, 6],
        [`Basic ${Buffer.from(`nobody${rng.int(0, 9)}:x`).toString('base64')}`, 5],
        [`Basic ${Buffer.from(`${env.admin.username}:${env.pat}`).toString('base64')}`, 6],
        [`Basic ${Buffer.from(`${env.admin.username}:`).toString('base64')}`, 3],
        [`Basic ${Buffer.from(`:${env.admin.password}`).toString('base64')}`, 2],
        [`Basic ${Buffer.from(`robot$fuzz+x:${'y'.repeat(40)}`).toString('base64')}`, 3],
        ['Basic !!!', 3],
        ['Basic', 2],
        [`Basic ${Buffer.from(`${'a'.repeat(3000)}:${'b'.repeat(3000)}`).toString('base64')}`, 2],
        [`Bearer ${env.adminToken}`, 4],
        [`Basic ${Buffer.from(`${env.admin.username}:${env.admin.password}`).toString('base64')}=`, 2],
        [`Basic ${Buffer.from(`${env.admin.username}\u0000:${env.admin.password}`).toString('base64')}`, 2],
      ])
    // good logins come from the harness's own address so the failed ones (other addresses) never lock it out
    const xff = (auth: string | undefined): Record<string, string> =>
      auth === good || auth === userGood ? { 'x-forwarded-for': env.goodAddress } : {}
    const which = rng.int(0, 9)
    if (which <= 4) {
      const params: string[] = []
      if (rng.chance(0.85))
        params.push(
          `service=${encodeURIComponent(rng.chance(0.8) ? env.service : rng.pick(['', 'evil', '%00', 'a'.repeat(500)]))}`,
        )
      const n = rng.weighted([
        [0, 10],
        [1, 60],
        [2, 20],
        [rng.int(10, 300), 10],
      ])
      for (let i = 0; i < n; i++) params.push(`scope=${encodeURIComponent(scope())}`)
      if (rng.chance(0.2))
        params.push(
          `offline_token=${rng.pick(['true', 'false', '1', ''])}`,
          `client_id=${encodeURIComponent(rng.pick(['docker', '', 'x'.repeat(300), '%00']))}`,
        )
      if (rng.chance(0.1)) params.push(`account=${encodeURIComponent(rng.pick(['admin', 'other', '']))}`)
      const auth = basic()
      await send({
        target: 'origin',
        method: rng.chance(0.9) ? 'GET' : 'HEAD',
        path: `/auth/token${params.length ? `?${params.join('&')}` : ''}`,
        headers: { ...(auth ? { authorization: auth } : {}), ...xff(auth) },
      })
    } else if (which <= 7) {
      const form: [string, string][] = []
      const grant = rng.pick([
        'password',
        'password',
        'refresh_token',
        'refresh_token',
        'client_credentials',
        '',
        'PASSWORD',
      ])
      form.push(['grant_type', grant])
      if (rng.chance(0.85)) form.push(['client_id', rng.pick(['docker', 'fuzz', '', 'x'.repeat(500)])])
      if (rng.chance(0.8)) form.push(['scope', scope()])
      if (rng.chance(0.7)) form.push(['service', env.service])
      let goodLogin = false
      if (grant === 'password') {
        const right = rng.chance(0.4)
        goodLogin = right
        form.push(['username', rng.chance(0.9) ? env.admin.username : rng.pick(['', 'nobody', 'a'.repeat(300)])])
        form.push([
          'password',
          right ? env.admin.password : rng.pick(['', 'wrong', 'x'.repeat(2000), env.pat, '\u0000']),
        ])
        if (rng.chance(0.3)) form.push(['access_type', rng.pick(['offline', 'online', ''])])
      } else if (grant === 'refresh_token') {
        form.push([
          'refresh_token',
          rng.chance(0.4)
            ? env.refreshToken
            : rng.pick(['', 'wharf_rt_x', `wharf_rt_${'A'.repeat(100)}`, env.pat, env.adminToken, '%00']),
        ])
      }
      if (rng.chance(0.1)) form.push([rng.pick(['__proto__', 'constructor', 'grant_type']), 'x'])
      const encoded = form.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')
      const variant = rng.int(0, 9)
      let body: string = encoded
      let contentType: string | undefined = 'application/x-www-form-urlencoded'
      if (variant === 0) {
        body = JSON.stringify(Object.fromEntries(form))
        contentType = 'application/json'
      } else if (variant === 1) {
        body = `--x\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\npassword\r\n--x--\r\n`
        contentType = rng.pick([
          'multipart/form-data; boundary=x',
          'multipart/form-data',
          'multipart/form-data; boundary=',
        ])
      } else if (variant === 2)
        body = rng.pick(['%zz=1', '&&&', '=', 'a'.repeat(2 * 1024 * 1024), `${encoded}&grant_type=password`, '\u0000'])
      else if (variant === 3)
        contentType = rng.pick([undefined, 'text/plain', 'application/x-www-form-urlencoded; charset=utf-16'])
      await send({
        target: 'origin',
        method: 'POST',
        path: '/auth/token',
        headers: {
          ...(contentType ? { 'content-type': contentType } : {}),
          ...(goodLogin ? { 'x-forwarded-for': env.goodAddress } : {}),
        },
        body,
      })
    } else if (which === 8) {
      await send({
        target: 'origin',
        method: rng.pick(['GET', 'HEAD', 'POST', 'PUT', 'DELETE']),
        path: rng.pick([
          '/auth/jwks.json',
          '/auth/',
          '/auth',
          '/auth/token/..',
          '/auth/token/',
          '/auth/%2e%2e/v2/',
          '/auth/jwks.json?x=%00',
          '/auth/token?scope=%',
        ]),
      })
    } else {
      // /v2/ itself with every kind of credential, on both registries
      const auth = v2Auth(rng, env)
      await send({
        target: v2Target(rng),
        method: rng.chance(0.8) ? 'GET' : 'HEAD',
        path: rng.pick(['/v2/', '/v2', '/v2/?x=1']),
        headers: withAuth({}, auth),
      })
    }
  },
}

// ------------------------------------------------------------------------------------------------ /api/v0

interface ApiEndpoint {
  method: string
  path: (rng: Rng) => string
  body?: (rng: Rng) => Record<string, unknown>
}

function seg(rng: Rng): string {
  return rng.pick([
    '..',
    '%2e%2e',
    '%2F',
    'a'.repeat(rng.int(200, 400)),
    '%C3%BC',
    '%00',
    '%FF',
    '%27%20OR%201%3D1',
    '%3Cscript%3E',
    '-',
    '_',
    '.',
    'ADMIN',
    '%20admin',
    'admin%00',
    'robot%24fuzz%2Bx',
    '%',
    '__proto__',
    'constructor',
    'prototype',
    '1',
    '-1',
    'null',
  ])
}

function accountName(rng: Rng, destructive = false): string {
  const pool = destructive
    ? ['fuzz-u2', 'fuzz-u3', 'fuzz-o1', `nobody${rng.int(0, 9)}`]
    : ['fuzz-u1', 'fuzz-u2', 'fuzz-o1', 'fuzz', 'admin', `nobody${rng.int(0, 9)}`]
  return rng.chance(0.8) ? rng.pick(pool) : seg(rng)
}

function orgName(rng: Rng): string {
  return rng.chance(0.8) ? rng.pick(['fuzz-o1', 'fuzz', 'fuzz-u2', 'nobody']) : seg(rng)
}

function repoPath(rng: Rng, destructive = false): string {
  return rng.chance(0.8)
    ? rng.pick(destructive ? [...SCRATCH_REPOS, 'fuzz/x1', 'fuzz-o1/app'] : [...FUZZ_REPOS, 'fuzz-o1/app'])
    : genName(rng)
}

function time(rng: Rng): unknown {
  return rng.pick([
    new Date(Date.now() + 86_400_000).toISOString(),
    '2020-01-01T00:00:00Z',
    'yesterday',
    0,
    -1,
    1e20,
    '9999-99-99',
    '',
    null,
    '2026-13-45T99:99:99Z',
  ])
}

const ORIGIN_API: ApiEndpoint[] = [
  {
    method: 'POST',
    path: () => '/api/v0/login',
    body: (r) => ({ username: r.chance(0.7) ? 'admin' : accountName(r), password: r.chance(0.2) ? 'wrong' : 'x' }),
  },
  { method: 'GET', path: () => '/api/v0/me' },
  {
    method: 'GET',
    path: (r) =>
      `/api/v0/accounts?${r.pick(['', 'kind=user', 'kind=org', 'kind=robot', 'kind=', 'limit=0', 'limit=501', 'limit=-1', 'limit=abc', 'last=zz', 'last=%00', `limit=${'9'.repeat(30)}`])}`,
  },
  {
    method: 'POST',
    path: () => '/api/v0/accounts',
    body: (r) => ({
      name: r.pick(['fuzz-u3', `fz${r.int(0, 999)}`, 'fuzz-o1', 'admin', 'Bad Name', '']),
      kind: r.pick(['user', 'org', 'robot']),
      password: r.pick(['secret-pass-1', 'short', '']),
      fullName: 'F',
      email: r.pick(['a@b.c', 'not-an-email', '']),
      isAdmin: r.chance(0.1),
    }),
  },
  { method: 'GET', path: (r) => `/api/v0/accounts/${accountName(r)}` },
  {
    method: 'PATCH',
    path: (r) => `/api/v0/accounts/${accountName(r, true)}`,
    body: (r) => ({
      fullName: 'x',
      email: 'e@x.y',
      active: r.chance(0.5),
      isAdmin: r.chance(0.2),
      password: 'new-password-1',
      currentPassword: 'old',
    }),
  },
  { method: 'DELETE', path: (r) => `/api/v0/accounts/${accountName(r, true)}` },
  { method: 'GET', path: (r) => `/api/v0/accounts/${accountName(r)}/settings` },
  {
    method: 'PATCH',
    path: (r) => `/api/v0/accounts/${accountName(r)}/settings`,
    body: (r) => ({ cacheSite: r.pick(['fuzz-site', null, 'nowhere', '']) }),
  },
  { method: 'GET', path: (r) => `/api/v0/accounts/${accountName(r)}/tokens` },
  {
    method: 'POST',
    path: (r) => `/api/v0/accounts/${accountName(r, true)}/tokens`,
    body: (r) => ({ name: `t${r.int(0, 99)}`, expiresAt: time(r) }),
  },
  {
    method: 'DELETE',
    path: (r) => `/api/v0/accounts/${accountName(r, true)}/tokens/${r.chance(0.5) ? randomUUID() : seg(r)}`,
  },
  { method: 'GET', path: (r) => `/api/v0/orgs/${orgName(r)}/members` },
  {
    method: 'PUT',
    path: (r) => `/api/v0/orgs/${orgName(r)}/members/${accountName(r, true)}`,
    body: (r) => ({ isOwner: r.chance(0.5) }),
  },
  { method: 'DELETE', path: (r) => `/api/v0/orgs/${orgName(r)}/members/${accountName(r, true)}` },
  { method: 'GET', path: (r) => `/api/v0/orgs/${orgName(r)}/teams` },
  {
    method: 'POST',
    path: (r) => `/api/v0/orgs/${orgName(r)}/teams`,
    body: (r) => ({ name: r.pick(['devs', 'ops', `t${r.int(0, 9)}`, 'Bad Team']), description: 'd' }),
  },
  { method: 'GET', path: (r) => `/api/v0/orgs/${orgName(r)}/teams/${r.pick(['devs', 'ops', 'none', seg(r)])}` },
  {
    method: 'PATCH',
    path: (r) => `/api/v0/orgs/${orgName(r)}/teams/${r.pick(['devs', 'ops', seg(r)])}`,
    body: (r) => ({ name: r.pick(['devs', 'ops2']), description: 'x' }),
  },
  { method: 'DELETE', path: (r) => `/api/v0/orgs/${orgName(r)}/teams/${r.pick(['ops', 'ops2', seg(r)])}` },
  { method: 'GET', path: (r) => `/api/v0/orgs/${orgName(r)}/teams/${r.pick(['devs', seg(r)])}/members` },
  {
    method: 'PUT',
    path: (r) => `/api/v0/orgs/${orgName(r)}/teams/${r.pick(['devs', seg(r)])}/members/${accountName(r, true)}`,
  },
  {
    method: 'DELETE',
    path: (r) => `/api/v0/orgs/${orgName(r)}/teams/${r.pick(['devs', seg(r)])}/members/${accountName(r, true)}`,
  },
  {
    method: 'GET',
    path: (r) =>
      `/api/v0/repositories?${r.pick(['', 'namespace=fuzz', 'namespace=', 'namespace=%00', 'limit=1000', 'last=fuzz/r1'])}`,
  },
  {
    method: 'POST',
    path: () => '/api/v0/repositories',
    body: (r) => ({
      name: r.pick(['fuzz/x1', 'fuzz-o1/app', `fuzz/n${r.int(0, 99)}`, 'admin/x', 'nobody/x']),
      visibility: r.pick(['public', 'private', 'internal']),
      description: 'd',
    }),
  },
  { method: 'GET', path: (r) => `/api/v0/repositories/${repoPath(r)}` },
  {
    method: 'PATCH',
    path: (r) => `/api/v0/repositories/${repoPath(r)}`,
    body: (r) => ({ visibility: r.pick(['public', 'private', 'x']), description: 'd' }),
  },
  { method: 'DELETE', path: (r) => `/api/v0/repositories/${repoPath(r, true)}` },
  { method: 'GET', path: (r) => `/api/v0/repositories/${repoPath(r)}/_grants` },
  {
    method: 'PUT',
    path: (r) =>
      `/api/v0/repositories/${repoPath(r)}/_grants/${r.pick(['users', 'teams', 'robots'])}/${r.pick(['fuzz-u1', 'fuzz-o1/devs', 'nobody', seg(r)])}`,
    body: (r) => ({ role: r.pick(['read', 'write', 'admin', 'owner']) }),
  },
  {
    method: 'DELETE',
    path: (r) =>
      `/api/v0/repositories/${repoPath(r)}/_grants/${r.pick(['users', 'teams'])}/${r.pick(['fuzz-u1', 'fuzz-o1/devs', seg(r)])}`,
  },
  { method: 'GET', path: (r) => `/api/v0/namespaces/${orgName(r)}/grants` },
  {
    method: 'PUT',
    path: (r) =>
      `/api/v0/namespaces/${orgName(r)}/grants/${r.pick(['users', 'teams'])}/${r.pick(['fuzz-u2', 'fuzz-o1/devs', seg(r)])}`,
    body: (r) => ({ role: r.pick(['read', 'write', 'admin']) }),
  },
  { method: 'GET', path: (r) => `/api/v0/namespaces/${orgName(r)}/robots` },
  {
    method: 'POST',
    path: (r) => `/api/v0/namespaces/${orgName(r)}/robots`,
    body: (r) => ({
      name: r.pick(['ci', `r${r.int(0, 9)}`, 'Bad+Name']),
      permissions: [
        {
          repository: r.pick(['fuzz/r0', 'fuzz/*', '*', 'other/x']),
          actions: r.pick([['pull'], ['pull', 'push'], ['*'], []]),
        },
      ],
      expiresAt: time(r),
    }),
  },
  { method: 'GET', path: (r) => `/api/v0/namespaces/${orgName(r)}/robots/${r.pick(['ci', seg(r)])}` },
  { method: 'DELETE', path: (r) => `/api/v0/namespaces/${orgName(r)}/robots/${r.pick(['ci', seg(r)])}` },
  { method: 'GET', path: () => '/api/v0/meta/settings' },
  { method: 'PATCH', path: () => '/api/v0/meta/settings', body: (r) => ({ createRepositoryOnPush: r.chance(0.7) }) },
  { method: 'GET', path: () => '/api/v0/meta/ldap' },
  {
    method: 'PUT',
    path: () => '/api/v0/meta/ldap',
    body: (r) => ({
      enabled: r.chance(0.3),
      url: r.pick(['ldap://127.0.0.1:1', 'ldaps://127.0.0.1:1', 'http://x', '', 'ldap://[::1]:1']),
      startTls: r.chance(0.2),
      bindDn: 'cn=x',
      bindPassword: 'x',
      userBaseDn: 'ou=people',
      userFilter: r.pick(['(objectClass=*)', '(((', '']),
      usernameAttribute: 'uid',
      syncSchedule: r.pick(['0 * * * *', '* * * * * * *', 'never', '']),
      timeoutMs: r.pick([1000, 0, -1, 1e12]),
    }),
  },
  { method: 'POST', path: () => '/api/v0/meta/ldap/test', body: () => ({}) },
  { method: 'POST', path: () => '/api/v0/meta/ldap/sync' },
  { method: 'GET', path: () => '/api/v0/meta/ldap/team-mappings' },
  {
    method: 'PUT',
    path: (r) => `/api/v0/meta/ldap/team-mappings/${orgName(r)}/${r.pick(['devs', seg(r)])}`,
    body: (r) => ({ group: r.pick(['cn=devs,ou=groups', '', '(((']) }),
  },
  { method: 'DELETE', path: (r) => `/api/v0/meta/ldap/team-mappings/${orgName(r)}/${r.pick(['devs', seg(r)])}` },
  {
    method: 'GET',
    path: (r) =>
      `/api/v0/events?${r.pick(['', 'actor=admin', 'action=login', 'targetType=token', 'target=fuzz*', 'target=*', 'since=yesterday', 'until=2020-01-01', 'before=-1', 'before=abc', 'limit=100000', `target=${'%25'.repeat(200)}`, 'since=1e999'])}`,
  },
  { method: 'GET', path: () => '/api/v0/caches' },
  { method: 'POST', path: () => '/api/v0/meta/keys/rotate' },
  { method: 'GET', path: (r) => `/api/v0/${seg(r)}` },
]

/** JSON API of the origin: every endpoint, bodies mutated, credentials of several kinds. */
const originApi: CaseFamily = {
  name: 'origin api',
  weight: 14,
  async run({ rng, env, send }) {
    const ep = rng.pick(ORIGIN_API)
    const method = rng.chance(0.93) ? ep.method : rng.pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'])
    let path = ep.path(rng)
    if (method === 'DELETE') path = unprotect(path)
    // key rotation makes a signing key each time: keep it rare
    if (path === '/api/v0/meta/keys/rotate' && !rng.chance(0.1)) path = '/api/v0/meta/settings'
    const credential = rng.weighted<string>([
      ['session', 45],
      ['basic', 12],
      ['pat', 12],
      ['jwt', 5],
      ['none', 10],
      ['garbage', 8],
      ['user', 8],
    ])
    const headers: Record<string, string> = {}
    if (credential === 'session') headers.cookie = `wharf_session=${env.session}`
    else if (credential === 'basic') {
      headers.authorization = `Basic ${Buffer.from(`${env.admin.username}:${env.admin.password}`).toString('base64')}`
      headers['x-forwarded-for'] = env.goodAddress
    } else if (credential === 'pat') headers.authorization = `Bearer ${env.pat}`
    else if (credential === 'jwt') headers.authorization = `Bearer ${env.adminToken}`
    else if (credential === 'user') {
      headers.authorization = `Basic ${Buffer.from(`${env.user.username}:${env.user.password}`).toString('base64')}`
      headers['x-forwarded-for'] = env.goodAddress
    } else if (credential === 'garbage') {
      const g = rng.pick([
        { cookie: `wharf_session=${rng.pick(['', 'x', 'A'.repeat(5000), '%00', `${env.session}x`])}` },
        { cookie: `wharf_session=${env.session}; wharf_session=x` },
        {
          authorization: rng.pick([
            'Bearer wharf_pat_x',
            'Bearer wharf_pat_',
            `Basic ${Buffer.from('admin:wrong').toString('base64')}`,
            'Basic ###',
            `Bearer ${env.siteCredential}`,
            `Bearer ${env.refreshToken}`,
          ]),
        },
        { authorization: rng.pick(env.forged).authorization },
      ])
      Object.assign(headers, g)
    }
    if (rng.chance(0.05))
      headers['x-forwarded-for'] = rng.pick([
        'x',
        '999.1.1.1',
        '::1, 1.2.3.4',
        `${'1.2.3.4, '.repeat(500)}5.6.7.8`,
        '',
        '%00',
      ])
    let body: string | undefined
    if (ep.body && method !== 'GET' && method !== 'HEAD') {
      let template = ep.body(rng)
      if (path === '/api/v0/login') {
        // a login with the right password from the good address, or a failed one from the case's own address
        const right = rng.chance(0.5)
        template = { username: env.admin.username, password: right ? env.admin.password : 'wrong-password' }
        if (right) headers['x-forwarded-for'] = env.goodAddress
        delete headers.cookie
      }
      const b = mutateJson(rng, template)
      body = b.text
      if (b.contentType) headers['content-type'] = b.contentType
    } else if (rng.chance(0.05) && method !== 'GET' && method !== 'HEAD') {
      body = rng.pick(['{}', 'x', '{"a":1}'])
      headers['content-type'] = 'application/json'
    }
    await send({ target: 'origin', method, path, headers, ...(body !== undefined ? { body } : {}) })
    if (rng.chance(0.04)) {
      // a session of its own, ended with logout (the harness's session is never sent to /logout)
      const res = await send({
        target: 'origin',
        method: 'POST',
        path: '/api/v0/login',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': env.goodAddress },
        body: JSON.stringify({ username: env.admin.username, password: env.admin.password }),
      })
      const cookie = /wharf_session=([^;]+)/.exec(res.headers['set-cookie'] ?? '')?.[1]
      await send({
        target: 'origin',
        method: 'POST',
        path: '/api/v0/logout',
        headers: cookie ? { cookie: `wharf_session=${cookie}` } : {},
      })
      if (cookie)
        await send({
          target: 'origin',
          method: 'GET',
          path: '/api/v0/me',
          headers: { cookie: `wharf_session=${cookie}` },
          check: (r) => (r.status === 200 ? 'a session still works after logout' : undefined),
        })
    }
  },
}

const SITE_POOL = ['fuzz-s1', 'fuzz-s2', 'fuzz-s3']

function siteName(rng: Rng, destructive = false): string {
  return rng.chance(0.8) ? rng.pick(destructive ? SITE_POOL : [...SITE_POOL, 'fuzz-site']) : seg(rng)
}

function siteBody(rng: Rng): Record<string, unknown> {
  return {
    name: rng.pick([...SITE_POOL, `s${rng.int(0, 99)}`, 'Bad Name', '', 'fuzz-site']),
    url: rng.pick([
      'http://127.0.0.1:1',
      'https://cache.example.com',
      'ftp://x',
      'http://x/path',
      '',
      'not a url',
      'http://[::1]:65536',
    ]),
    region: rng.pick(['eu', '', 'x'.repeat(65)]),
    latitude: rng.pick([53.3, -91, 90, 'north', 1e308]),
    longitude: rng.pick([-6.2, 181, -180, null]),
    networks: rng.pick([
      ['10.0.0.0/8'],
      ['not-a-cidr'],
      ['0.0.0.0/0', '::/0'],
      [],
      ['10.0.0.0/33'],
      Array.from({ length: 300 }, (_, i) => `10.${i % 256}.0.0/16`),
    ]),
    parent: rng.pick(['fuzz-site', 'fuzz-s1', '', null, 'nobody']),
    capacityBytes: rng.pick([1e12, -1, 0.5, 2 ** 64]),
    isDefault: rng.chance(0.1),
    caCertificate: rng.pick([
      null,
      '',
      '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
      'x'.repeat(100),
    ]),
  }
}

const CP_API: ApiEndpoint[] = [
  { method: 'GET', path: () => '/api/v0/sites' },
  { method: 'POST', path: () => '/api/v0/sites', body: siteBody },
  { method: 'GET', path: (r) => `/api/v0/sites/${siteName(r)}` },
  {
    method: 'PATCH',
    path: (r) => `/api/v0/sites/${siteName(r)}`,
    body: (r) => Object.fromEntries(Object.entries(siteBody(r)).filter(() => r.chance(0.4))),
  },
  { method: 'DELETE', path: (r) => `/api/v0/sites/${siteName(r, true)}` },
  {
    method: 'GET',
    path: (r) => `/api/v0/sites/${siteName(r)}/health?${r.pick(['', 'limit=1', 'limit=-1', 'limit=abc', 'limit=1e9'])}`,
  },
  {
    method: 'GET',
    path: (r) =>
      `/api/v0/sites/${siteName(r)}/client-config?${r.pick(['', 'client=docker', 'client=containerd', 'client=podman', 'client=x', 'origin=registry.example.com', 'origin=%00', 'origin=a'.repeat(50), 'origin=http://x/y'])}`,
  },
  {
    method: 'POST',
    path: () => '/api/v0/join-tokens',
    body: (r) => ({
      site: r.pick([...SITE_POOL, 'fuzz-site', null, 'nobody']),
      uses: r.pick([1, 0, 10_001, -1, 2.5]),
      expiresIn: r.pick([60, 0, 1e9, -5]),
    }),
  },
  { method: 'GET', path: () => '/api/v0/join-tokens' },
  { method: 'DELETE', path: (r) => `/api/v0/join-tokens/${r.chance(0.5) ? randomUUID() : seg(r)}` },
  { method: 'GET', path: () => '/api/v0/networks' },
  {
    method: 'POST',
    path: () => '/api/v0/networks',
    body: (r) => ({
      cidr: r.pick(['10.1.0.0/16', '::/0', 'x', '10.0.0.0/33', '300.0.0.0/8', '']),
      latitude: r.pick([1, 91]),
      longitude: r.pick([1, -181]),
      label: 'l',
    }),
  },
  { method: 'DELETE', path: (r) => `/api/v0/networks/${r.chance(0.5) ? randomUUID() : seg(r)}` },
  {
    method: 'POST',
    path: () => '/api/v0/assignments/resolve',
    body: (r) => ({
      user: r.pick(['admin', 'fuzz-u1', '', null]),
      teams: r.pick([['fuzz-o1/devs'], [], ['x'.repeat(300)]]),
      orgs: r.pick([['fuzz-o1'], []]),
      address: r.pick(['81.2.69.142', '10.0.0.1', '::1', 'x', '', '999.0.0.1', '::ffff:10.0.0.1']),
    }),
  },
  { method: 'GET', path: () => '/api/v0/assignments' },
  {
    method: 'GET',
    path: (r) =>
      `/api/v0/assignments/${r.pick(['user', 'team', 'org', 'x'])}/${r.pick(['admin', 'fuzz-o1/devs', 'fuzz-o1', seg(r)])}`,
  },
  {
    method: 'PUT',
    path: (r) =>
      `/api/v0/assignments/${r.pick(['user', 'team', 'org', 'x'])}/${r.pick(['fuzz-u1', 'fuzz-o1/devs', 'fuzz-o1', seg(r)])}`,
    body: (r) => ({ site: r.pick([...SITE_POOL, 'fuzz-site', 'nobody', null]) }),
  },
  {
    method: 'DELETE',
    path: (r) =>
      `/api/v0/assignments/${r.pick(['user', 'team', 'org'])}/${r.pick(['fuzz-u1', 'fuzz-o1/devs', seg(r)])}`,
  },
  {
    method: 'GET',
    path: (r) =>
      `/api/v0/reports/bandwidth?${r.pick(['', 'granularity=hour', 'granularity=day', 'granularity=month', 'granularity=year', 'granularity=x', 'from=2026-01-01&to=2025-01-01', 'from=x', 'format=csv', 'format=xml', 'site=fuzz-site', 'repository=fuzz/r0', 'from=0000-01-01&to=9999-12-31&granularity=hour', 'from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z'])}`,
  },
  { method: 'GET', path: () => '/health' },
  { method: 'GET', path: (r) => `/api/v0/${seg(r)}` },
]

/** JSON API of the control plane, and what nodes call (join, heartbeats, metrics) with real and wrong credentials. */
const cpApi: CaseFamily = {
  name: 'control plane api',
  weight: 12,
  async run({ rng, env, send }) {
    const which = rng.int(0, 9)
    if (which <= 6) {
      const ep = rng.pick(CP_API)
      const method = rng.chance(0.93) ? ep.method : rng.pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])
      const cred = rng.weighted<() => { authorization?: string; forged?: string }>([
        [() => ({ authorization: `Bearer ${env.cpToken}` }), 60],
        [() => ({ authorization: `Bearer ${env.adminToken}` }), 8],
        [() => ({ authorization: `Bearer ${env.userToken}` }), 5],
        [() => ({}), 8],
        [() => ({ authorization: `Bearer ${env.siteCredential}` }), 5],
        [
          () => {
            const f = rng.pick(env.forged)
            return { authorization: f.authorization, forged: f.label }
          },
          8,
        ],
        [
          () => ({
            authorization: rng.pick([
              'Bearer',
              'Basic YWRtaW46eA==',
              'Bearer wharf_site_x',
              'Bearer wharf_site_',
              'Bearer wharf_join_x',
              `Bearer ${'A'.repeat(8000)}`,
              `Bearer ${env.pat}`,
            ]),
          }),
          6,
        ],
      ])()
      const headers: Record<string, string> = cred.authorization ? { authorization: cred.authorization } : {}
      let body: string | undefined
      if (ep.body && method !== 'GET') {
        const b = mutateJson(rng, ep.body(rng), { hugeBytes: 9 * 1024 * 1024 })
        body = b.text
        if (b.contentType) headers['content-type'] = b.contentType
      }
      const path = ep.path(rng)
      const check = cred.forged && path.startsWith('/api/v0/') ? refusedForged(cred.forged) : undefined
      await send({
        target: 'cp',
        method,
        path,
        headers,
        ...(body !== undefined ? { body } : {}),
        ...(check ? { check } : {}),
      })
    } else if (which === 7) {
      // joining: with a real join token (made here) or broken ones, and bodies of every shape
      let token = rng.pick(['wharf_join_x', 'wharf_join_', `wharf_join_${'A'.repeat(200)}`, 'x', env.cpToken])
      if (rng.chance(0.5)) {
        const res = await send({
          target: 'cp',
          method: 'POST',
          path: '/api/v0/join-tokens',
          headers: { authorization: `Bearer ${env.cpToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ uses: 1, expiresIn: 600 }),
        })
        try {
          token = (JSON.parse(res.body.toString()) as { token?: string }).token ?? token
        } catch {
          // keep the broken one
        }
      }
      const b = mutateJson(rng, {
        name: `j${rng.int(0, 999)}`,
        url: 'http://127.0.0.1:1',
        region: 'r',
        latitude: 1,
        longitude: 2,
        networks: ['10.9.0.0/16'],
        version: '1',
        capacityBytes: 1e9,
      })
      await send({
        target: 'cp',
        method: 'POST',
        path: '/api/v0/join',
        headers: { authorization: `Bearer ${token}`, ...(b.contentType ? { 'content-type': b.contentType } : {}) },
        body: b.text,
      })
    } else {
      // a node's heartbeat or metrics batch, as the joined site (or another site's id, or a broken credential)
      const siteId = rng.chance(0.8) ? env.siteId : rng.pick([randomUUID(), seg(rng), ''])
      const cred = rng.chance(0.85)
        ? env.siteCredential
        : rng.pick([`wharf_site_${randomUUID()}_x`, 'wharf_site_', env.cpToken, `${env.siteCredential}x`])
      const hour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000).toISOString()
      const template = rng.chance(0.5)
        ? {
            version: 'fuzz',
            diskUsedBytes: rng.int(0, 1e9),
            diskFreeBytes: 1e9,
            capacityBytes: 2e9,
            hitRatio: rng.pick([0.5, 1.5, -0.1, null]),
            url: rng.pick(['http://127.0.0.1:1', 'x', null]),
          }
        : {
            batch: rng.pick([`b${rng.int(0, 1e6)}`, '', 'x'.repeat(200), 'b1']),
            entries: Array.from({ length: rng.pick([0, 1, 3, 50]) }, () => ({
              repository: rng.pick(['fuzz/r0', '', 'x'.repeat(300), genName(rng)]),
              hour: rng.pick([hour, '2026-01-01T00:30:00Z', 'x', 0, '9999-12-31T23:00:00Z']),
              requests: rng.pick([1, -1, 2 ** 60, 0.5]),
              hits: 1,
              misses: 0,
              bytesToClients: rng.pick([100, 1e300]),
              bytesFromUpstream: 0,
            })),
          }
      const b = mutateJson(rng, template, { hugeBytes: 9 * 1024 * 1024 })
      const kind = 'batch' in template ? 'metrics' : 'heartbeat'
      await send({
        target: 'cp',
        method: 'POST',
        path: `/api/v0/sites/${siteId}/${kind}`,
        headers: { authorization: `Bearer ${cred}`, ...(b.contentType ? { 'content-type': b.contentType } : {}) },
        body: b.text,
      })
    }
  },
}

/** Raw HTTP no client library sends: bytes in the request line, framing contradictions, odd versions. */
const rawHttp: CaseFamily = {
  name: 'raw http',
  weight: 5,
  async run({ rng, env, send }) {
    const target = rng.pick<TargetName>(['origin', 'cache', 'cp'])
    const host = env.hosts[target]
    const token = target === 'cp' ? env.cpToken : env.adminToken
    const path = rng.pick([
      '/v2/fuzz/r0/tags/list',
      '/v2/fuzz/\u0000/tags/list',
      '/v2/fuzz/ünï/manifests/v1',
      '/v2/fuzz/r0/manifests/v1 x',
      '/v2/\t/',
      `http://${host}/v2/`,
      '*',
      '../../etc/passwd',
      '/v2/%zz',
      '/v2/%',
      '/%00',
      `/v2/${'a'.repeat(rng.pick([2000, 20_000, 100_000]))}`,
      '/api/v0/sites',
      '/api/v0/me',
      '/auth/token?scope=repository:fuzz/r0:pull',
      '/v2/fuzz/r0/blobs/uploads/',
    ])
    const line = rng.pick(['GET', 'GET', 'HEAD', 'POST', 'get', 'FOO', 'CONNECT', 'TRACE', 'PRI'])
    const version = rng.pick(['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', '', 'HTTP/1.1x'])
    const headerSets: string[][] = [
      [`Host: ${host}`],
      [],
      [`Host: ${host}`, `Host: evil.example`],
      [`Host: ${host}`, 'NoColonHeader'],
      [`Host: ${host}`, 'X-Nul: a\u0000b'],
      [`Host: ${host}`, 'X-Folded: a', ' continued'],
      [`Host: ${host}`, ...Array.from({ length: 300 }, (_, i) => `X-H${i}: ${i}`)],
      [`Host: ${host}`, `X-Big: ${'a'.repeat(rng.pick([9000, 20_000, 70_000]))}`],
      [`Host: ${host}`, 'Content-Length: -1'],
      [`Host: ${host}`, 'Content-Length: abc'],
      [`Host: ${host}`, 'Content-Length: 5', 'Content-Length: 6'],
      [`Host: ${host}`, 'Content-Length: 5', 'Transfer-Encoding: chunked'],
      [`Host: ${host}`, 'Transfer-Encoding: gzip'],
      [`Host: ${host}`, 'Transfer-Encoding: chunked'],
      [`Host: ${host}`, 'Content-Length: 99999999999999999999'],
      [`Host: ${host}`, `Authorization: Bearer ${token}\u00ff`],
      [`Host: ${host}`, `Authorization: Bearer ${token}`, `Authorization: Bearer x`],
      [`Host: ${host}`, 'Connection: keep-alive, Upgrade', 'Upgrade: websocket'],
      [`Host: ${host}`, 'Content-Type: application/json', 'Content-Length: 2'],
    ]
    const hs = rng.pick(headerSets)
    if (rng.chance(0.6) && !hs.some((h) => h.startsWith('Authorization'))) hs.push(`Authorization: Bearer ${token}`)
    const chunked = hs.some((h) => /chunked/.test(h))
    const body = chunked
      ? rng.pick([
          '5\r\nhello\r\n0\r\n\r\n',
          'zz\r\nhello\r\n0\r\n\r\n',
          '5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\n',
          '-1\r\n\r\n',
          'ffffffffffffffff\r\nx\r\n',
        ])
      : hs.includes('Content-Length: 2')
        ? '{}'
        : rng.chance(0.2)
          ? 'extra bytes after the request'
          : ''
    const pipelined = rng.chance(0.1) ? `GET /v2/ HTTP/1.1\r\nHost: ${host}\r\n\r\n` : ''
    const text = `${line} ${path}${version ? ` ${version}` : ''}\r\n${hs.join('\r\n')}${hs.length ? '\r\n' : ''}${rng.chance(0.9) ? 'Connection: close\r\n' : ''}\r\n${body}${pipelined}`
    // a body shorter than its Content-Length (5, 6, 9e19) is incomplete: no answer is acceptable there
    const incomplete = hs.some((h) => /Content-Length: (5|6|9{5,})/.test(h)) && !chunked
    await send({ target, method: line, path, raw: Buffer.from(text, 'utf8'), incomplete })
  },
}

/** Paths outside the routes: traversal, doubled slashes, other programs' prefixes, every method. */
const miscPaths: CaseFamily = {
  name: 'misc paths',
  weight: 4,
  async run({ rng, env, send }) {
    const target = rng.pick<TargetName>(['origin', 'cache', 'cp'])
    const path = rng.pick([
      '/',
      '/v2',
      '//v2/',
      '/v2//',
      '/V2/',
      '/v2/../auth/token',
      '/v2/%2e%2e/auth/token',
      '/v2/%2e%2e/api/v0/me',
      '/api/v0',
      '/api/v0/',
      '/api/v0/../../v2/',
      '/api',
      '/metrics',
      '/health',
      '/auth/token/..',
      '/favicon.ico',
      '/.env',
      '/../../../../etc/passwd',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/v2/_catalog?n=-1',
      '/v2/_catalog?n=99999999999999&last=%00',
      '/v2/_catalog?n=abc',
      `/v2/_catalog?last=${'z'.repeat(10000)}`,
      '/v2/_catalog?n=0',
      `/${'a/'.repeat(2000)}`,
      '/api/v0/sites/../../../auth/jwks.json',
      '/api/v0/%2e%2e/health',
      '/auth/jwks.json',
    ])
    const method = rng.pick(['GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE'])
    const auth: Record<string, string> = rng.chance(0.5)
      ? { authorization: `Bearer ${target === 'cp' ? env.cpToken : env.adminToken}` }
      : rng.chance(0.5)
        ? { cookie: `wharf_session=${env.session}` }
        : {}
    await send({
      target,
      method,
      path,
      headers: auth,
      ...(method === 'POST' || method === 'PUT' ? { body: rng.pick(['', '{}', 'x'.repeat(100)]) } : {}),
    })
  },
}

export const FAMILIES: CaseFamily[] = [
  v2Read,
  v2Range,
  v2Upload,
  v2Manifest,
  authToken,
  originApi,
  cpApi,
  rawHttp,
  miscPaths,
]
