/**
 * A private OpenLDAP slapd for tests: its own slapd.conf and mdb database under a temporary folder, listening on
 * 127.0.0.1 on a free port, seeded with people and groups under dc=wharf,dc=test. Debian's slapd is installed by
 * `bash scripts/ldap.sh install` (scripts/test.sh and .ci/run call it).
 *
 *   - slapd missing + WHARF_REQUIRE_CLIENTS=1 → the suite FAILS with the reason;
 *   - slapd missing otherwise                 → the suite is skipped with a loud warning on stderr.
 *
 * slapd logs at level `stats`, so a test can read which binds reached the server (`binds()`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Attribute, Change, Client } from 'ldapts'
import { describeWhenAvailable } from './requires.ts'

const SLAPD = '/usr/sbin/slapd'
const SLAPTEST = '/usr/sbin/slaptest'
const MODULE_DIR = '/usr/lib/ldap'

export const BASE_DN = 'dc=wharf,dc=test'
export const PEOPLE_DN = `ou=people,${BASE_DN}`
export const GROUPS_DN = `ou=groups,${BASE_DN}`

export interface Slapd {
  /** ldap://127.0.0.1:PORT (StartTLS works on it when started with `tls: true`) */
  url: string
  /** ldaps://127.0.0.1:PORT, with `tls: true` */
  ldapsUrl?: string
  /** The self-signed certificate (for 127.0.0.1) slapd presents, with `tls: true` */
  caPem?: string
  baseDn: string
  /** The rootDN (manager) and its password: the helpers below use it. */
  bindDn: string
  bindPassword: string
  /** A read-only service account, as an installation would give Wharf. */
  readerDn: string
  readerPassword: string
  add(dn: string, attributes: Record<string, string | string[]>): Promise<void>
  modify(
    dn: string,
    changes: { operation: 'add' | 'delete' | 'replace'; attribute: string; values: string[] }[],
  ): Promise<void>
  delete(dn: string): Promise<void>
  /** Adds an inetOrgPerson under ou=people. */
  addUser(uid: string, password: string, extra?: { cn?: string; mail?: string }): Promise<string>
  addToGroup(group: string, memberDn: string): Promise<void>
  removeFromGroup(group: string, memberDn: string): Promise<void>
  /** DNs of every simple bind slapd has seen so far (`""` for anonymous), in order. */
  binds(): string[]
  stop(): Promise<void>
}

export const userDn = (uid: string) => `uid=${uid},${PEOPLE_DN}`
export const groupDn = (cn: string) => `cn=${cn},${GROUPS_DN}`

const ROOT_PASSWORD = 'slapd-root-secret'
const READER_PASSWORD = 'reader-secret'

/** The seed directory: alice (devs, admins), bob (devs), carol (ops); admins also lists the reader (not a user). */
export const SEED_LDIF = `
dn: ${BASE_DN}
objectClass: dcObject
objectClass: organization
o: Wharf Test
dc: wharf

dn: ${PEOPLE_DN}
objectClass: organizationalUnit
ou: people

dn: ${GROUPS_DN}
objectClass: organizationalUnit
ou: groups

dn: cn=reader,${BASE_DN}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: reader
userPassword: ${READER_PASSWORD}

dn: ${userDn('alice')}
objectClass: inetOrgPerson
uid: alice
cn: Alice Liddell
sn: Liddell
mail: alice@wharf.test
userPassword: alice-password

dn: ${userDn('bob')}
objectClass: inetOrgPerson
uid: bob
cn: Bob Builder
sn: Builder
mail: bob@wharf.test
userPassword: bob-password

dn: ${userDn('carol')}
objectClass: inetOrgPerson
uid: carol
cn: Carol Danvers
sn: Danvers
mail: carol@wharf.test
userPassword: carol-password

dn: ${groupDn('devs')}
objectClass: groupOfNames
cn: devs
member: ${userDn('alice')}
member: ${userDn('bob')}

dn: ${groupDn('ops')}
objectClass: groupOfNames
cn: ops
member: ${userDn('carol')}

dn: ${groupDn('admins')}
objectClass: groupOfNames
cn: admins
member: ${userDn('alice')}
member: cn=reader,${BASE_DN}
`

export function slapdAvailable(): { ok: true } | { ok: false; reason: string } {
  for (const bin of [SLAPD, SLAPTEST]) {
    if (!existsSync(bin)) return { ok: false, reason: `${bin} not found — run: sudo bash scripts/ldap.sh install` }
  }
  if (!existsSync(join(MODULE_DIR, 'back_mdb.so')))
    return { ok: false, reason: `${MODULE_DIR}/back_mdb.so not found (Debian's slapd package)` }
  return { ok: true }
}

/** `describe` for suites that need slapd: skipped loudly without it, or failed with WHARF_REQUIRE_CLIENTS=1. */
export function describeWithSlapd(name: string, fn: () => void): void {
  const avail = slapdAvailable()
  describeWhenAvailable('OpenLDAP slapd', avail.ok ? { ok: true, value: undefined } : avail, name, fn)
}

export interface SlapdOptions {
  /** LDIF loaded at start; SEED_LDIF by default. */
  seed?: string
  /** Also serve ldaps:// and StartTLS with a fresh self-signed certificate for 127.0.0.1 (needs the openssl CLI). */
  tls?: boolean
}

/** Starts a seeded slapd on a free loopback port; ready when the rootDN can bind. */
export async function startSlapd(opts: SlapdOptions = {}): Promise<Slapd> {
  const dir = await mkdtemp(join(tmpdir(), 'wharf-slapd-'))
  await mkdir(join(dir, 'db'))
  let caPem: string | undefined
  if (opts.tls) {
    const made = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { encoding: 'utf8' },
    )
    if (made.status !== 0)
      throw new Error(`openssl could not make a certificate for slapd: ${made.error?.message ?? made.stderr}`)
    caPem = await readFile(join(dir, 'cert.pem'), 'utf8')
  }
  const bindDn = `cn=admin,${BASE_DN}`
  const conf = join(dir, 'slapd.conf')
  await writeFile(
    conf,
    [
      ...['core', 'cosine', 'nis', 'inetorgperson'].map((s) => `include /etc/ldap/schema/${s}.schema`),
      `modulepath ${MODULE_DIR}`,
      'moduleload back_mdb',
      `pidfile ${join(dir, 'slapd.pid')}`,
      `argsfile ${join(dir, 'slapd.args')}`,
      // a DN with an empty password binds anonymously here: Wharf must never send one (RFC 4513 §5.1.2)
      'allow bind_anon_dn',
      ...(opts.tls
        ? [`TLSCertificateFile ${join(dir, 'cert.pem')}`, `TLSCertificateKeyFile ${join(dir, 'key.pem')}`]
        : []),
      'database mdb',
      'maxsize 67108864',
      `suffix "${BASE_DN}"`,
      `rootdn "${bindDn}"`,
      `rootpw ${ROOT_PASSWORD}`,
      `directory ${join(dir, 'db')}`,
      'access to attrs=userPassword by self write by anonymous auth by * none',
      'access to * by * read',
      '',
    ].join('\n'),
  )
  const test = spawnSync(SLAPTEST, ['-f', conf, '-u'], { encoding: 'utf8' })
  if (test.status !== 0) throw new Error(`slaptest rejected ${conf}:\n${test.stderr}`)

  let child: ChildProcess | undefined
  let log = ''
  let url = ''
  let ldapsUrl: string | undefined
  for (let attempt = 0; attempt < 3 && !child; attempt++) {
    url = `ldap://127.0.0.1:${await freePort()}`
    ldapsUrl = opts.tls ? `ldaps://127.0.0.1:${await freePort()}` : undefined
    log = ''
    const listen = ldapsUrl ? `${url}/ ${ldapsUrl}/` : `${url}/`
    const c = spawn(SLAPD, ['-f', conf, '-h', listen, '-d', 'stats'], { stdio: ['ignore', 'ignore', 'pipe'] })
    c.stderr!.on('data', (d: Buffer) => (log += d.toString()))
    if (await ready(c, url, bindDn)) child = c
    else await stopChild(c)
  }
  if (!child) {
    await rm(dir, { recursive: true, force: true })
    throw new Error(`slapd did not start:\n${log.slice(-3000)}`)
  }
  const running = child

  const admin = async <T>(fn: (c: Client) => Promise<T>): Promise<T> => {
    const c = new Client({ url, timeout: 5000, connectTimeout: 5000 })
    try {
      await c.bind(bindDn, ROOT_PASSWORD)
      return await fn(c)
    } finally {
      await c.unbind()
    }
  }
  const modify: Slapd['modify'] = (dn, changes) =>
    admin((c) =>
      c.modify(
        dn,
        changes.map(
          (ch) =>
            new Change({
              operation: ch.operation,
              modification: new Attribute({ type: ch.attribute, values: ch.values }),
            }),
        ),
      ),
    )
  const add: Slapd['add'] = (dn, attributes) => admin((c) => c.add(dn, attributes))
  await admin(async (c) => {
    for (const entry of parseLdif(opts.seed ?? SEED_LDIF)) await c.add(entry.dn, entry.attributes)
  })

  return {
    url,
    ldapsUrl,
    caPem,
    baseDn: BASE_DN,
    bindDn,
    bindPassword: ROOT_PASSWORD,
    readerDn: `cn=reader,${BASE_DN}`,
    readerPassword: READER_PASSWORD,
    add,
    modify,
    delete: (dn) => admin((c) => c.del(dn)),
    async addUser(uid, password, extra = {}) {
      const dn = userDn(uid)
      await add(dn, {
        objectClass: 'inetOrgPerson',
        uid,
        cn: extra.cn ?? uid,
        sn: uid,
        mail: extra.mail ?? `${uid}@wharf.test`,
        userPassword: password,
      })
      return dn
    },
    addToGroup: (group, memberDn) =>
      modify(groupDn(group), [{ operation: 'add', attribute: 'member', values: [memberDn] }]),
    removeFromGroup: (group, memberDn) =>
      modify(groupDn(group), [{ operation: 'delete', attribute: 'member', values: [memberDn] }]),
    binds: () => [...log.matchAll(/ BIND dn="([^"]*)" method=128/g)].map((m) => m[1]!),
    async stop() {
      await stopChild(running)
      await rm(dir, { recursive: true, force: true })
    },
  }
}

async function ready(child: ChildProcess, url: string, bindDn: string): Promise<boolean> {
  let exited = child.exitCode !== null
  child.once('exit', () => (exited = true))
  const deadline = Date.now() + 10_000
  while (!exited && Date.now() < deadline) {
    const c = new Client({ url, timeout: 1000, connectTimeout: 1000 })
    try {
      await c.bind(bindDn, ROOT_PASSWORD)
      await c.unbind()
      return true
    } catch {
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  return false
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

/** Plain LDIF content records (`attr: value`, `attr:: base64`, folded lines, comments); no change records. */
export function parseLdif(text: string): { dn: string; attributes: Record<string, string[]> }[] {
  const unfolded = text.replace(/\r?\n /g, '')
  const out: { dn: string; attributes: Record<string, string[]> }[] = []
  for (const block of unfolded.split(/\n\s*\n/)) {
    let dn = ''
    const attributes: Record<string, string[]> = {}
    for (const line of block.split('\n')) {
      if (!line.trim() || line.startsWith('#')) continue
      const m = /^([A-Za-z][\w;-]*)(::?)\s*(.*)$/.exec(line)
      if (!m) throw new Error(`bad LDIF line: ${line}`)
      const value = m[2] === '::' ? Buffer.from(m[3]!, 'base64').toString('utf8') : m[3]!
      if (m[1]!.toLowerCase() === 'dn') dn = value
      else (attributes[m[1]!] ??= []).push(value)
    }
    if (dn) out.push({ dn, attributes })
  }
  return out
}
