/**
 * A small seeded PRNG (xoshiro128**, seeded through splitmix32 from a string), so that a run's workload can be
 * generated again from its seed. Not for anything secret.
 */

/** 32-bit hash of a string (FNV-1a), to turn seeds such as "1" or "fuzz:42" into state. */
function hash32(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

export class Rng {
  #s0: number
  #s1: number
  #s2: number
  #s3: number

  constructor(seed: string | number) {
    let x = hash32(String(seed))
    const split = (): number => {
      x = (x + 0x9e3779b9) | 0
      let z = x
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
      return (z ^ (z >>> 16)) >>> 0
    }
    this.#s0 = split()
    this.#s1 = split()
    this.#s2 = split()
    this.#s3 = split()
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.#s1, 5), 7), 9) >>> 0
    const t = this.#s1 << 9
    this.#s2 ^= this.#s0
    this.#s3 ^= this.#s1
    this.#s1 ^= this.#s2
    this.#s0 ^= this.#s3
    this.#s2 ^= t
    this.#s3 = rotl(this.#s3, 11)
    return result
  }

  /** A float in [0, 1). */
  next(): number {
    return this.u32() / 4294967296
  }

  /** An integer in [lo, hi], both included. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1))
  }

  chance(p: number): boolean {
    return this.next() < p
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list')
    return items[Math.floor(this.next() * items.length)]!
  }

  /** An item chosen with probability proportional to its weight. */
  weighted<T>(items: readonly (readonly [T, number])[]): T {
    const total = items.reduce((a, [, w]) => a + w, 0)
    let r = this.next() * total
    for (const [item, w] of items) {
      r -= w
      if (r < 0) return item
    }
    return items[items.length - 1]![0]
  }

  /** A log-uniform integer in [lo, hi]: as many small values per decade as large ones. */
  logUniform(lo: number, hi: number): number {
    return Math.round(Math.exp(Math.log(lo) + this.next() * (Math.log(hi) - Math.log(lo))))
  }

  /** `n` pseudo-random bytes. */
  bytes(n: number): Buffer {
    const buf = Buffer.allocUnsafe(n)
    let i = 0
    for (; i + 4 <= n; i += 4) buf.writeUInt32LE(this.u32(), i)
    for (; i < n; i++) buf[i] = this.u32() & 0xff
    return buf
  }

  /** A new generator whose sequence depends on this one's seed and `label` only, not on how much was drawn. */
  static derive(seed: string | number, label: string | number): Rng {
    return new Rng(`${seed}:${label}`)
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1))
      ;[items[i], items[j]] = [items[j]!, items[i]!]
    }
    return items
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}
