import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { DIGEST_ALGORITHMS, StreamHasher, digestOf, looksLikeDigest, parseDigest } from './digest.ts'
import { OciError } from './errors.ts'

const SHA256_EMPTY = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
const SHA512_EMPTY =
  'sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e'
/** image-spec's empty descriptor: the digest of `{}`. */
const SHA256_EMPTY_JSON = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a'

function digestError(value: string): OciError {
  try {
    parseDigest(value)
  } catch (err) {
    return err as OciError
  }
  throw new Error(`parseDigest(${JSON.stringify(value)}) did not throw`)
}

describe('parseDigest', () => {
  it('parses sha256 and sha512 digests', () => {
    const hex256 = 'a'.repeat(64)
    expect(parseDigest(`sha256:${hex256}`)).toEqual({ algorithm: 'sha256', hex: hex256, digest: `sha256:${hex256}` })
    const hex512 = '0123456789abcdef'.repeat(8)
    expect(parseDigest(`sha512:${hex512}`)).toEqual({ algorithm: 'sha512', hex: hex512, digest: `sha512:${hex512}` })
    expect(parseDigest(SHA256_EMPTY).hex).toHaveLength(64)
    expect(parseDigest(SHA512_EMPTY).hex).toHaveLength(128)
  })

  it('knows the encoded length of each algorithm it can verify', () => {
    expect(DIGEST_ALGORITHMS).toEqual({ sha256: 64, sha512: 128 })
  })

  it.each([
    ['empty string', ''],
    ['no colon', 'sha256'],
    ['no algorithm', ':abc'],
    ['no encoded part', 'sha256:'],
    ['a space', `sha256: ${'a'.repeat(63)}`],
    ['a trailing newline', `sha256:${'a'.repeat(64)}\n`],
    ['two colons', `sha256:${'a'.repeat(32)}:${'a'.repeat(31)}`],
    ['upper-case algorithm', `SHA256:${'a'.repeat(64)}`],
    ['a separator at the start of the algorithm', `+sha256:${'a'.repeat(64)}`],
  ])('refuses a value outside the digest grammar (%s) with DIGEST_INVALID', (_what, value) => {
    const err = digestError(value)
    expect(err).toBeInstanceOf(OciError)
    expect(err.code).toBe('DIGEST_INVALID')
    expect(err.status).toBe(400)
  })

  it.each([
    ['upper-case hex', `sha256:${'A'.repeat(64)}`],
    ['63 hex digits', `sha256:${'a'.repeat(63)}`],
    ['65 hex digits', `sha256:${'a'.repeat(65)}`],
    ['a non-hex letter', `sha256:${'g'.repeat(64)}`],
    ['sha512 with a sha256-length hex', `sha512:${'a'.repeat(64)}`],
    ['sha256 with a sha512-length hex', `sha256:${'a'.repeat(128)}`],
    ['base64 characters', `sha256:${'a'.repeat(62)}==`],
  ])('refuses a grammatical digest with a bad encoding (%s)', (_what, value) => {
    expect(looksLikeDigest(value)).toBe(true)
    expect(digestError(value).code).toBe('DIGEST_INVALID')
  })

  it('refuses algorithms it cannot verify, even when they fit the grammar', () => {
    for (const value of [`md5:${'a'.repeat(32)}`, `sha384:${'a'.repeat(96)}`, `multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8`]) {
      expect(looksLikeDigest(value)).toBe(true)
      const err = digestError(value)
      expect(err.code).toBe('DIGEST_INVALID')
      expect(err.message).toMatch(/unsupported digest algorithm/)
    }
  })

  it('cuts long values short in the error message', () => {
    const err = digestError(`sha256:${'z'.repeat(5000)}`)
    expect(err.message.length).toBeLessThan(200)
  })
})

describe('looksLikeDigest', () => {
  it('accepts the image-spec grammar, separators included', () => {
    expect(looksLikeDigest(SHA256_EMPTY)).toBe(true)
    expect(looksLikeDigest('sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564')).toBe(true)
    expect(looksLikeDigest('a.b-c_d:x=')).toBe(true)
  })

  it('rejects tags and other references', () => {
    for (const v of ['latest', 'v1.0', 'sha256', ':x', 'a:', 'a:b c', 'A:b', 'sha256:abc/def']) expect(looksLikeDigest(v)).toBe(false)
  })
})

describe('digestOf', () => {
  it('matches the well-known digests', () => {
    expect(digestOf('')).toBe(SHA256_EMPTY)
    expect(digestOf(new Uint8Array(0), 'sha512')).toBe(SHA512_EMPTY)
    expect(digestOf('{}')).toBe(SHA256_EMPTY_JSON)
    expect(digestOf('hello world')).toBe('sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9')
  })

  it('hashes strings as UTF-8 and bytes as they are', () => {
    expect(digestOf('é')).toBe(digestOf(Buffer.from([0xc3, 0xa9])))
  })
})

describe('StreamHasher', () => {
  it('gives the same digest as digestOf, however the data is chunked, and counts bytes', () => {
    const data = randomBytes(100_003)
    for (const algorithm of ['sha256', 'sha512'] as const) {
      const h = new StreamHasher(algorithm)
      for (let i = 0; i < data.length; i += 7919) h.update(data.subarray(i, i + 7919))
      expect(h.bytes).toBe(data.length)
      expect(h.algorithm).toBe(algorithm)
      expect(h.digest()).toBe(digestOf(data, algorithm))
    }
  })

  it('defaults to sha256 and handles no data', () => {
    const h = new StreamHasher()
    expect(h.bytes).toBe(0)
    expect(h.digest()).toBe(SHA256_EMPTY)
  })

  it('matches the FIPS 180-2 "abc" vector for sha512, fed one byte at a time', () => {
    const h = new StreamHasher('sha512')
    for (const b of Buffer.from('abc')) h.update(Uint8Array.of(b))
    expect(h.digest()).toBe(
      'sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
    )
  })
})
