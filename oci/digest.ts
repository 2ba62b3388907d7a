import { createHash, type Hash } from 'node:crypto'
import { OciError } from './errors.ts'

/** Algorithms this project can verify, with the length of their hex encoding. */
export const DIGEST_ALGORITHMS = { sha256: 64, sha512: 128 } as const
export type DigestAlgorithm = keyof typeof DIGEST_ALGORITHMS

export interface ParsedDigest {
  algorithm: DigestAlgorithm
  hex: string
  /** `algorithm:hex`, lowercase. */
  digest: string
}

const GRAMMAR = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/

/**
 * Parses a digest we can verify. The grammar is image-spec's; algorithms beyond sha256 and sha512 fit the
 * grammar but cannot be checked here, so they are refused with DIGEST_INVALID rather than stored unverified.
 */
export function parseDigest(value: string): ParsedDigest {
  const m = GRAMMAR.exec(value)
  if (!m) throw new OciError('DIGEST_INVALID', `invalid digest "${truncate(value)}"`)
  const algorithm = m[1] as string
  const hex = m[2] as string
  if (!(algorithm in DIGEST_ALGORITHMS)) {
    throw new OciError('DIGEST_INVALID', `unsupported digest algorithm "${truncate(algorithm)}" (sha256 or sha512)`)
  }
  const alg = algorithm as DigestAlgorithm
  if (hex.length !== DIGEST_ALGORITHMS[alg] || !/^[a-f0-9]+$/.test(hex)) {
    throw new OciError('DIGEST_INVALID', `invalid ${alg} digest "${truncate(value)}"`)
  }
  return { algorithm: alg, hex, digest: value }
}

/** True when the value looks like a digest (it may still name an unsupported algorithm). */
export function looksLikeDigest(value: string): boolean {
  return GRAMMAR.test(value)
}

export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`
}

/** Hashes a stream of chunks with one algorithm; `digest()` may be called once. */
export class StreamHasher {
  readonly algorithm: DigestAlgorithm
  #hash: Hash
  #bytes = 0

  constructor(algorithm: DigestAlgorithm = 'sha256') {
    this.algorithm = algorithm
    this.#hash = createHash(algorithm)
  }

  update(chunk: Uint8Array): void {
    this.#hash.update(chunk)
    this.#bytes += chunk.byteLength
  }

  get bytes(): number {
    return this.#bytes
  }

  digest(): string {
    return `${this.algorithm}:${this.#hash.digest('hex')}`
  }
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 80)}…` : s
}
