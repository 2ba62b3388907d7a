/** A byte range, both ends inclusive. */
export interface ByteRange {
  start: number
  end: number
}

export type RangeRequest = { kind: 'none' } | { kind: 'range'; range: ByteRange } | { kind: 'unsatisfiable' }

/**
 * Reads a GET's `Range` header against a blob of `size` bytes (RFC 9110 § 14.1.2): `a-b` (end clamped),
 * `a-` and the suffix `-n`. Anything else, including several ranges, is ignored and the whole blob is served,
 * which the RFC allows.
 */
export function parseRangeHeader(header: string | undefined | null, size: number): RangeRequest {
  if (!header) return { kind: 'none' }
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'none' }
  if (m[1] === '') {
    const suffix = Number(m[2])
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' }
    return { kind: 'range', range: { start: Math.max(size - suffix, 0), end: size - 1 } }
  }
  const start = Number(m[1])
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  if (start >= size || (m[2] !== '' && Number(m[2]) < start)) return { kind: 'unsatisfiable' }
  return { kind: 'range', range: { start, end } }
}

/** Reads an upload chunk's `Content-Range: start-end` (no unit, as the distribution spec writes it). */
export function parseContentRange(header: string | undefined | null): ByteRange | undefined | 'invalid' {
  if (header === undefined || header === null || header === '') return undefined
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim())
  if (!m) return 'invalid'
  return { start: Number(m[1]), end: Number(m[2]) }
}
