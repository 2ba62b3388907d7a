import { describe, expect, it } from 'vitest'
import { parseContentRange, parseRangeHeader } from './range.ts'

describe('parseRangeHeader (RFC 9110 § 14.1.2, blob GET)', () => {
  const SIZE = 2048

  it('no header, or an empty one, means the whole blob', () => {
    expect(parseRangeHeader(undefined, SIZE)).toEqual({ kind: 'none' })
    expect(parseRangeHeader(null, SIZE)).toEqual({ kind: 'none' })
    expect(parseRangeHeader('', SIZE)).toEqual({ kind: 'none' })
  })

  // the rewritten conformance suite's cases on a 2048-byte blob
  it.each([
    ['bytes=500-1499', 500, 1499],
    ['bytes=500-', 500, 2047],
    ['bytes=-500', 1548, 2047],
    ['bytes=2000-5000', 2000, 2047],
  ])('%s → bytes %i-%i', (header, start, end) => {
    expect(parseRangeHeader(header, SIZE)).toEqual({ kind: 'range', range: { start, end } })
  })

  it.each(['bytes=500-0', 'bytes=5000-10000', 'bytes=2048-', 'bytes=2048-2048'])('%s is unsatisfiable', (header) => {
    expect(parseRangeHeader(header, SIZE)).toEqual({ kind: 'unsatisfiable' })
  })

  it('handles the edges of the blob', () => {
    expect(parseRangeHeader('bytes=0-0', SIZE)).toEqual({ kind: 'range', range: { start: 0, end: 0 } })
    expect(parseRangeHeader('bytes=2047-', SIZE)).toEqual({ kind: 'range', range: { start: 2047, end: 2047 } })
    expect(parseRangeHeader('bytes=0-2047', SIZE)).toEqual({ kind: 'range', range: { start: 0, end: 2047 } })
    // a suffix longer than the blob is the whole blob
    expect(parseRangeHeader('bytes=-5000', SIZE)).toEqual({ kind: 'range', range: { start: 0, end: 2047 } })
    expect(parseRangeHeader('bytes=-1', SIZE)).toEqual({ kind: 'range', range: { start: 2047, end: 2047 } })
  })

  it('a zero-length suffix, and any range of an empty blob, are unsatisfiable', () => {
    expect(parseRangeHeader('bytes=-0', SIZE)).toEqual({ kind: 'unsatisfiable' })
    expect(parseRangeHeader('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' })
    expect(parseRangeHeader('bytes=-10', 0)).toEqual({ kind: 'unsatisfiable' })
  })

  it('tolerates surrounding whitespace', () => {
    expect(parseRangeHeader('  bytes=1-2 ', SIZE)).toEqual({ kind: 'range', range: { start: 1, end: 2 } })
  })

  it.each(['bytes=-', 'bytes=abc', 'bytes=1-2,4-5', 'items=0-1', 'bytes 0-1', '0-1', 'bytes=1.5-2', 'bytes=--1', 'BYTES=0-1'])(
    'ignores %s (serves the whole blob, which the RFC allows)',
    (header) => {
      expect(parseRangeHeader(header, SIZE)).toEqual({ kind: 'none' })
    },
  )

  it('numbers beyond the blob do not overflow into a range', () => {
    expect(parseRangeHeader('bytes=99999999999999999999-', SIZE)).toEqual({ kind: 'unsatisfiable' })
    expect(parseRangeHeader('bytes=0-99999999999999999999', SIZE)).toEqual({ kind: 'range', range: { start: 0, end: 2047 } })
  })
})

describe('parseContentRange (upload chunks)', () => {
  it('absent or empty is undefined', () => {
    expect(parseContentRange(undefined)).toBeUndefined()
    expect(parseContentRange(null)).toBeUndefined()
    expect(parseContentRange('')).toBeUndefined()
  })

  it('reads the spec form "<start>-<end>", inclusive', () => {
    expect(parseContentRange('0-41')).toEqual({ start: 0, end: 41 })
    expect(parseContentRange('22-41')).toEqual({ start: 22, end: 41 })
    expect(parseContentRange(' 5-9 ')).toEqual({ start: 5, end: 9 })
  })

  it('also reads the RFC forms some clients send', () => {
    expect(parseContentRange('bytes 0-41/42')).toEqual({ start: 0, end: 41 })
    expect(parseContentRange('bytes=0-41')).toEqual({ start: 0, end: 41 })
    expect(parseContentRange('bytes 0-41/*')).toEqual({ start: 0, end: 41 })
  })

  it.each(['abc', '0-', '-41', '0 41', '0-41-50', 'bytes */42', '1.5-2', 'bytes:0-1', '0-41/abc'])('%s is invalid', (h) => {
    expect(parseContentRange(h)).toBe('invalid')
  })

  it('leaves order checks (end before start) to the caller', () => {
    expect(parseContentRange('40-30')).toEqual({ start: 40, end: 30 })
  })
})
