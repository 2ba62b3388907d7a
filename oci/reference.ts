import { OciError } from './errors.ts'
import { looksLikeDigest, parseDigest, type ParsedDigest } from './digest.ts'

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*'
/** distribution-spec's repository name grammar. */
export const NAME_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`)
/** distribution-spec's tag grammar. */
export const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/
/** Clients cap host + "/" + name at 255 characters; the name alone gets the same cap. */
export const MAX_NAME_LENGTH = 255

export function isValidName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && NAME_RE.test(name)
}

/** Throws NAME_INVALID unless `name` is a valid repository name. */
export function assertName(name: string): string {
  if (!isValidName(name)) {
    throw new OciError('NAME_INVALID', `invalid repository name "${name.slice(0, 100)}"`)
  }
  return name
}

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag)
}

export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: ParsedDigest }

/**
 * Parses a manifest reference: a tag or a digest. `onInvalid` picks the error for a reference that is neither:
 * a lookup answers MANIFEST_UNKNOWN (the conformance suite asks for 404), a write answers MANIFEST_INVALID.
 */
export function parseReference(ref: string, onInvalid: 'unknown' | 'invalid'): Reference {
  if (isValidTag(ref)) return { kind: 'tag', tag: ref }
  if (looksLikeDigest(ref)) return { kind: 'digest', digest: parseDigest(ref) }
  if (onInvalid === 'unknown') throw new OciError('MANIFEST_UNKNOWN', `manifest unknown: invalid reference "${ref.slice(0, 100)}"`)
  throw new OciError('MANIFEST_INVALID', `invalid reference "${ref.slice(0, 100)}": neither a tag nor a digest`)
}
