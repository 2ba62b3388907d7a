import { mkdir, readdir, readFile, rename, writeFile, chmod } from 'node:fs/promises'
import { join } from 'node:path'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK, type CryptoKey } from 'jose'

interface StoredKey {
  kid: string
  createdAt: number
  /** When a newer key took over signing; the key keeps verifying until its last token has expired. */
  retiredAt: number | null
  privateJwk: JWK
}

interface LoadedKey extends StoredKey {
  privateKey: CryptoKey
  publicJwk: JWK
}

/**
 * The ES256 keys that sign registry tokens, kept as JWK files in `dir` (mode 0600). The newest key signs; retired
 * keys stay published in the JWKS until tokens they signed can no longer be valid, so caches and the control plane
 * keep verifying across a rotation. `kid` is the key's RFC 7638 thumbprint.
 */
export class KeyRing {
  readonly #dir: string
  readonly #keepRetiredMs: number
  readonly #now: () => number
  #keys: LoadedKey[] = []

  constructor(dir: string, opts: { keepRetiredMs: number; now: () => number }) {
    this.#dir = dir
    this.#keepRetiredMs = opts.keepRetiredMs
    this.#now = opts.now
  }

  /** Loads the keys, creating the first one on a fresh data folder. */
  async init(): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 })
    const files = (await readdir(this.#dir)).filter((f) => f.endsWith('.json'))
    const stored = await Promise.all(
      files.map(async (f) => JSON.parse(await readFile(join(this.#dir, f), 'utf8')) as StoredKey),
    )
    this.#keys = await Promise.all(stored.map((s) => load(s)))
    this.#keys.sort((a, b) => b.createdAt - a.createdAt)
    if (!this.#keys.some((k) => k.retiredAt === null)) await this.rotate()
  }

  /** Makes a new signing key; the previous one is retired and stays published for verification. */
  async rotate(): Promise<string> {
    const now = this.#now()
    const { privateKey } = await generateKeyPair('ES256', { extractable: true })
    const privateJwk = await exportJWK(privateKey)
    const kid = await calculateJwkThumbprint(privateJwk)
    const fresh: StoredKey = { kid, createdAt: now, retiredAt: null, privateJwk: { ...privateJwk, kid, alg: 'ES256' } }
    for (const k of this.#keys) if (k.retiredAt === null) await this.#save({ ...k, retiredAt: now })
    await this.#save(fresh)
    const reloaded = await Promise.all(this.#keys.map((k) => load({ ...k, retiredAt: k.retiredAt ?? now })))
    this.#keys = [await load(fresh), ...reloaded].filter(
      (k) => k.retiredAt === null || now - k.retiredAt < this.#keepRetiredMs,
    )
    return kid
  }

  /** The key that signs new tokens. */
  signing(): { kid: string; key: CryptoKey } {
    const k = this.#keys.find((x) => x.retiredAt === null)
    if (!k) throw new Error('no signing key loaded')
    return { kid: k.kid, key: k.privateKey }
  }

  /** The public key for a `kid`, if it is still trusted. */
  async publicKey(kid: string): Promise<CryptoKey | undefined> {
    const k = this.#keys.find(
      (x) => x.kid === kid && (x.retiredAt === null || this.#now() - x.retiredAt < this.#keepRetiredMs),
    )
    return k ? ((await importJWK(k.publicJwk, 'ES256')) as CryptoKey) : undefined
  }

  /** The JWKS document: every public key that may still verify a live token. */
  jwks(): { keys: JWK[] } {
    const now = this.#now()
    return {
      keys: this.#keys
        .filter((k) => k.retiredAt === null || now - k.retiredAt < this.#keepRetiredMs)
        .map((k) => k.publicJwk),
    }
  }

  async #save(k: StoredKey): Promise<void> {
    const file = join(this.#dir, `${k.kid}.json`)
    const tmp = `${file}.tmp`
    const { kid, createdAt, retiredAt, privateJwk } = k
    await writeFile(tmp, JSON.stringify({ kid, createdAt, retiredAt, privateJwk }), { mode: 0o600 })
    await chmod(tmp, 0o600)
    await rename(tmp, file)
  }
}

async function load(s: StoredKey): Promise<LoadedKey> {
  const privateKey = (await importJWK(s.privateJwk, 'ES256')) as CryptoKey
  const pub: JWK = { ...s.privateJwk }
  delete pub.d
  return { ...s, privateKey, publicJwk: { ...pub, kid: s.kid, alg: 'ES256', use: 'sig' } }
}
