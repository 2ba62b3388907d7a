import { randomBytes, scrypt, timingSafeEqual, createHash } from 'node:crypto'

/**
 * scrypt parameters: N=2^15, r=8 uses 32 MiB per hash, which is memory-hard and about 80 ms on one core here
 * (OWASP's scrypt floor is N=2^17 with r=8 at 128 MiB; 2^15 keeps a burst of docker logins from exhausting
 * a small server, and failed logins are rate-limited on top).
 */
const N = 2 ** 15
const R = 8
const P = 1
const KEY_BYTES = 32
const MAX_MEM = 64 * 1024 * 1024

function derive(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, KEY_BYTES, { N: n, r, p, maxmem: MAX_MEM }, (err, key) =>
      err ? reject(err) : resolve(key),
    )
  })
}

/** Hashes a password as `scrypt$N$r$p$<salt b64>$<key b64>`. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16)
  const key = await derive(password, salt, N, R, P)
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`
}

/** Checks a password against a stored hash in constant time; a malformed hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false
  const [n, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])]
  const salt = Buffer.from(parts[4]!, 'base64')
  const expected = Buffer.from(parts[5]!, 'base64')
  if (!Number.isInteger(n) || !Number.isInteger(r) || !Number.isInteger(p) || expected.length !== KEY_BYTES)
    return false
  const key = await derive(password, salt, n, r, p)
  return timingSafeEqual(key, expected)
}

/** For high-entropy random secrets (tokens, robot secrets): a plain hash is enough, and fast. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url')
}

/** Compares a secret with a stored `hashSecret` value in constant time. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret))
  const b = Buffer.from(storedHash)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** A random secret of 32 bytes, URL-safe. */
export function newSecret(): string {
  return randomBytes(32).toString('base64url')
}
