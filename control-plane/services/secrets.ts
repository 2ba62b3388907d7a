import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/** `s_` + 16 hex characters. */
export const SITE_ID_RE = /^s_[0-9a-f]{16}$/
const SITE_CREDENTIAL_RE = /^wharf_site_(s_[0-9a-f]{16})_([0-9a-f]{64})$/
const JOIN_TOKEN_RE = /^wharf_join_(j_[0-9a-f]{16})_([0-9a-f]{64})$/

export const newId = (prefix: string): string => `${prefix}_${randomBytes(8).toString('hex')}`
export const newSecret = (): string => randomBytes(32).toString('hex')
export const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex')

/** Compares a secret with a stored sha256 hex in constant time. */
export function secretMatches(secret: string, storedHash: string | null): boolean {
  if (!storedHash) return false
  const a = Buffer.from(sha256(secret), 'hex')
  const b = Buffer.from(storedHash, 'hex')
  return a.length === b.length && timingSafeEqual(a, b)
}

export const siteCredential = (siteId: string, secret: string): string => `wharf_site_${siteId}_${secret}`
export const joinToken = (tokenId: string, secret: string): string => `wharf_join_${tokenId}_${secret}`

export function parseSiteCredential(token: string): { siteId: string; secret: string } | undefined {
  const m = SITE_CREDENTIAL_RE.exec(token)
  return m ? { siteId: m[1]!, secret: m[2]! } : undefined
}

export function parseJoinToken(token: string): { tokenId: string; secret: string } | undefined {
  const m = JOIN_TOKEN_RE.exec(token)
  return m ? { tokenId: m[1]!, secret: m[2]! } : undefined
}
