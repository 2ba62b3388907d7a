/**
 * JSON bodies for the fuzz: a small JSON model whose objects are lists of pairs, so that keys such as `__proto__`
 * and duplicate keys survive serialisation (JSON.stringify of an object literal would turn `__proto__` into a
 * prototype), plus raw fragments for what JSON.stringify cannot write (1e999, -0, broken text).
 */
import type { Rng } from './prng.ts'

export type J = null | boolean | number | string | J[] | { obj: [string, J][] } | { raw: string }

/** A plain JS value (objects, arrays, scalars) as J. */
export function toJ(v: unknown): J {
  if (v === null || v === undefined) return null
  if (typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v
  if (Array.isArray(v)) return v.map(toJ)
  if (typeof v === 'object') return { obj: Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, toJ(x)]) }
  return String(v)
}

export function jsonText(v: J): string {
  if (v === null || typeof v === 'boolean') return String(v)
  if (typeof v === 'number') return Number.isFinite(v) ? JSON.stringify(v) : 'null'
  if (typeof v === 'string') return JSON.stringify(v)
  if (Array.isArray(v)) return `[${v.map(jsonText).join(',')}]`
  if ('raw' in v) return v.raw
  return `{${v.obj.map(([k, x]) => `${JSON.stringify(k)}:${jsonText(x)}`).join(',')}}`
}

/** Keys of Object.prototype and friends: a body that sets them must neither pollute nor crash. */
export const PROTO_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '__defineGetter__',
  'isPrototypeOf',
]

export const WEIRD_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff\ud800',
  '\u202eevil',
  '\u2028\u2029',
  '😀',
  'ü',
  "' OR 1=1 --",
  '"; DROP TABLE accounts; --',
  '../../../etc/passwd',
  '%2e%2e%2f',
  '<script>alert(1)</script>',
  '${7*7}',
  '\r\nX-Injected: 1',
  'null',
  'true',
  '-1',
  '1e999',
  'http://127.0.0.1:1/',
  'https://[::1]:0/',
  'javascript:alert(1)',
  'file:///etc/passwd',
  'a'.repeat(129),
]

export const WEIRD_NUMBERS = [
  '1e999',
  '-1e999',
  '-0',
  '0.5',
  '1.0',
  '9007199254740993',
  '-1',
  '1e-400',
  '123456789012345678901234567890',
  '2147483648',
  '-2147483649',
  '0e0',
]

/** Any JSON value, nested at most `depth` levels. */
export function randomValue(rng: Rng, depth = 2): J {
  const k = rng.int(0, depth > 0 ? 9 : 6)
  switch (k) {
    case 0:
      return null
    case 1:
      return rng.chance(0.5)
    case 2:
      return rng.pick([0, 1, -1, 2 ** 31, 2 ** 53, -(2 ** 53), 0.1, 1e308, -1e-308, rng.int(-1000, 1000)])
    case 3:
      return { raw: rng.pick(WEIRD_NUMBERS) }
    case 4:
      return rng.pick(WEIRD_STRINGS)
    case 5:
      return 'x'.repeat(rng.logUniform(1, 4096))
    case 6:
      return `s${rng.u32()}`
    case 7:
      return Array.from({ length: rng.int(0, 4) }, () => randomValue(rng, depth - 1))
    case 8:
      return {
        obj: Array.from(
          { length: rng.int(0, 4) },
          () => [rng.pick([...PROTO_KEYS, 'a', 'name', 'x']), randomValue(rng, depth - 1)] as [string, J],
        ),
      }
    default:
      return { obj: [] }
  }
}

/** A value nested `depth` levels deep, as text (no recursion when serialising). */
export function deepText(rng: Rng, depth: number): string {
  if (rng.chance(0.5)) return `${'['.repeat(depth)}1${']'.repeat(depth)}`
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`
}

export interface JsonBody {
  text: string
  contentType: string | undefined
  /** What was done to the template, for the report. */
  mutation: string
}

/**
 * A body for an endpoint that takes `template`: the template itself or one of many mutations (wrong types,
 * prototype keys, huge strings, deep nesting, other top-level values, broken JSON, duplicate keys...).
 */
export function mutateJson(rng: Rng, template: Record<string, unknown>, opts: { hugeBytes?: number } = {}): JsonBody {
  const base = toJ(template) as { obj: [string, J][] }
  const pairs = base.obj.map(([k, v]) => [k, v] as [string, J])
  const field = () => (pairs.length ? rng.int(0, pairs.length - 1) : -1)
  let mutation: string
  let text: string | undefined
  const m = rng.weighted<number>([
    [0, 20],
    [1, 12],
    [2, 12],
    [3, 6],
    [4, 7],
    [5, 5],
    [6, 7],
    [7, 8],
    [8, 6],
    [9, 5],
    [10, 4],
    [11, 3],
    [12, 3],
    [13, opts.hugeBytes ? 1 : 0],
  ])
  switch (m) {
    case 0:
      mutation = 'template'
      break
    case 1: {
      const i = field()
      if (i >= 0) pairs[i]![1] = randomValue(rng, 1)
      mutation = `wrong type for ${pairs[i]?.[0] ?? '-'}`
      break
    }
    case 2: {
      const key = rng.pick([...PROTO_KEYS, `unknown${rng.int(0, 9)}`])
      const value: J = rng.chance(0.6)
        ? {
            obj: [
              ['isAdmin', true],
              ['admin', true],
              ['polluted', 'yes'],
            ],
          }
        : randomValue(rng, 1)
      pairs.splice(rng.int(0, pairs.length), 0, [key, value])
      mutation = `extra key ${key}`
      break
    }
    case 3:
      if (rng.chance(0.5)) pairs.length = 0
      else pairs.splice(field(), 1)
      mutation = 'fields missing'
      break
    case 4: {
      const i = field()
      const n = rng.logUniform(1024, 1024 * 1024)
      if (i >= 0) pairs[i]![1] = rng.pick(['a', 'ü', '\u0000', '😀']).repeat(n)
      mutation = `huge string (${n} chars) in ${pairs[i]?.[0] ?? '-'}`
      break
    }
    case 5: {
      const i = field()
      const depth = rng.logUniform(64, 20_000)
      if (i >= 0) pairs[i]![1] = { raw: deepText(rng, depth) }
      mutation = `nested ${depth} deep in ${pairs[i]?.[0] ?? '-'}`
      break
    }
    case 6:
      text = rng.pick([
        '[]',
        '[{}]',
        '"x"',
        '1',
        '-0',
        'null',
        'true',
        '1e999',
        '""',
        '[null]',
        JSON.stringify([template]),
      ])
      mutation = 'not an object'
      break
    case 7: {
      const valid = jsonText({ obj: pairs })
      text = rng.pick([
        '{',
        '}',
        '{"a":}',
        "{'name':'x'}",
        'NaN',
        '\u0000',
        '{"a":1,}',
        '{"a" 1}',
        valid.slice(0, Math.max(1, rng.int(0, valid.length - 1))),
        `${valid}garbage`,
        `${valid}${valid}`,
        '\ufeff' + valid,
        valid.replace(/"/g, "'"),
        Buffer.from(rng.bytes(rng.int(1, 64))).toString('latin1'),
      ])
      mutation = 'invalid JSON'
      break
    }
    case 8: {
      const i = field()
      if (i >= 0) pairs[i]![1] = rng.pick(WEIRD_STRINGS)
      mutation = `odd string in ${pairs[i]?.[0] ?? '-'}`
      break
    }
    case 9: {
      const i = field()
      if (i >= 0) pairs[i]![1] = { raw: rng.pick(WEIRD_NUMBERS) }
      mutation = `odd number in ${pairs[i]?.[0] ?? '-'}`
      break
    }
    case 10: {
      const i = field()
      if (i >= 0) pairs.push([pairs[i]![0], randomValue(rng, 1)])
      mutation = `duplicate key ${pairs[i]?.[0] ?? '-'}`
      break
    }
    case 11: {
      const i = field()
      const n = rng.logUniform(100, 20_000)
      if (i >= 0) pairs[i]![1] = Array.from({ length: n }, (_, j) => (rng.chance(0.5) ? `x${j}` : j))
      mutation = `array of ${n} in ${pairs[i]?.[0] ?? '-'}`
      break
    }
    case 12:
      text = ''
      mutation = 'empty body'
      break
    default: {
      const n = opts.hugeBytes ?? 9 * 1024 * 1024
      text = `{"name":"${'x'.repeat(n)}"}`
      mutation = `body of ${n} bytes`
    }
  }
  const contentType = rng.chance(0.88)
    ? 'application/json'
    : rng.pick([
        undefined,
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/json; charset=utf-16',
        'multipart/form-data; boundary=x',
        'application/json, text/plain',
      ])
  return { text: text ?? jsonText({ obj: pairs }), contentType, mutation }
}
