import { describe, expect, it } from 'vitest'
import { OciError } from './errors.ts'
import { MAX_NAME_LENGTH, NAME_RE, TAG_RE, assertName, isValidName, isValidTag, parseReference } from './reference.ts'

function thrown(fn: () => unknown): OciError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(OciError)
    return err as OciError
  }
  throw new Error('expected an OciError')
}

describe('repository names (distribution-spec grammar)', () => {
  it.each([
    'a',
    'library/ubuntu',
    'a/b/c/d/e',
    'my-app',
    'my--app',
    'my.app',
    'my_app',
    'my__app',
    '0',
    '123/456',
    'conformance-6a0c5b2e-4c2f-4e8e-9d6b-bb7b1e8b1d10',
    'blobs/manifests/uploads/tags/list',
  ])('accepts %s', (name) => {
    expect(isValidName(name)).toBe(true)
    expect(NAME_RE.test(name)).toBe(true)
    expect(assertName(name)).toBe(name)
  })

  it.each([
    ['empty', ''],
    ['upper case', 'Library/ubuntu'],
    ['leading separator', '-app'],
    ['trailing separator', 'app-'],
    ['leading slash', '/app'],
    ['trailing slash', 'app/'],
    ['empty component', 'a//b'],
    ['two dots', 'a..b'],
    ['three underscores', 'a___b'],
    ['dot then dash', 'a.-b'],
    ['leading underscore', '_app'],
    ['space', 'my app'],
    ['colon', 'host:5000/app'],
    ['at sign', 'app@sha256'],
    ['non-ASCII', 'café'],
    ['NUL', 'a\u0000b'],
    ['newline', 'a\nb'],
  ])('refuses %s', (_what, name) => {
    expect(isValidName(name)).toBe(false)
    const err = thrown(() => assertName(name))
    expect(err.code).toBe('NAME_INVALID')
    expect(err.status).toBe(400)
  })

  it('caps names at 255 characters', () => {
    expect(MAX_NAME_LENGTH).toBe(255)
    const max = `${'a'.repeat(127)}/${'b'.repeat(127)}`
    expect(max).toHaveLength(255)
    expect(isValidName(max)).toBe(true)
    expect(isValidName(`${max}b`)).toBe(false)
    expect(thrown(() => assertName('x'.repeat(10_000))).message.length).toBeLessThan(200)
  })
})

describe('tags (distribution-spec grammar)', () => {
  it.each(['latest', 'v1.0.0', 'V1', '_private', '0', 'a-b_c.d', '1.0-rc.1', 'sha256-' + 'a'.repeat(64)])('accepts %s', (tag) => {
    expect(isValidTag(tag)).toBe(true)
    expect(TAG_RE.test(tag)).toBe(true)
  })

  it.each([
    ['empty', ''],
    ['leading dot', '.hidden'],
    ['leading dash', '-x'],
    ['colon', 'a:b'],
    ['slash', 'a/b'],
    ['plus', 'v1+build'],
    ['space', 'a b'],
    ['non-ASCII', 'ñ'],
  ])('refuses %s', (_what, tag) => {
    expect(isValidTag(tag)).toBe(false)
  })

  it('allows at most 128 characters', () => {
    expect(isValidTag('a'.repeat(128))).toBe(true)
    expect(isValidTag('a'.repeat(129))).toBe(false)
  })
})

describe('parseReference', () => {
  const digest = `sha256:${'c'.repeat(64)}`

  it('reads a tag', () => {
    expect(parseReference('latest', 'unknown')).toEqual({ kind: 'tag', tag: 'latest' })
  })

  it('reads a digest', () => {
    expect(parseReference(digest, 'invalid')).toEqual({ kind: 'digest', digest: { algorithm: 'sha256', hex: 'c'.repeat(64), digest } })
    const s512 = `sha512:${'d'.repeat(128)}`
    expect(parseReference(s512, 'unknown')).toMatchObject({ kind: 'digest', digest: { algorithm: 'sha512' } })
  })

  it('answers a lookup of something that is neither with MANIFEST_UNKNOWN (404: the conformance suite asks for it)', () => {
    const err = thrown(() => parseReference('.INVALID_MANIFEST_NAME', 'unknown'))
    expect(err.code).toBe('MANIFEST_UNKNOWN')
    expect(err.status).toBe(404)
  })

  it('answers a write of something that is neither with MANIFEST_INVALID (400)', () => {
    const err = thrown(() => parseReference('-bad', 'invalid'))
    expect(err.code).toBe('MANIFEST_INVALID')
    expect(err.status).toBe(400)
  })

  it('answers a digest-shaped reference with a bad encoding with DIGEST_INVALID either way', () => {
    for (const mode of ['unknown', 'invalid'] as const) {
      const err = thrown(() => parseReference('sha256:totallywrong', mode))
      expect(err.code).toBe('DIGEST_INVALID')
      expect(err.status).toBe(400)
    }
  })

  it('prefers the tag reading: a tag cannot contain ":", so nothing is ambiguous', () => {
    expect(parseReference('sha256', 'unknown')).toEqual({ kind: 'tag', tag: 'sha256' })
  })
})
