import type { Context } from 'hono'
import { ApiError } from '../../http/api-errors.ts'
import type { ApiEnv } from '../../http/api-auth.ts'
import { clientAddress } from '../../http/client-address.ts'
import type { Caller } from '../../services/permissions.ts'

/** Page size when `?limit=` is absent. */
export const DEFAULT_PAGE = 50
/** Largest page; a bigger `?limit=` is cut to this. */
export const MAX_PAGE = 500
/** Largest JSON body the API reads (64 KiB). */
export const MAX_BODY_BYTES = 64 * 1024

/** Who sent the request and how they proved it (resolved by apiAuth), and from which address. */
export function caller(c: Context<ApiEnv>): Caller {
  return { principal: c.get('principal'), via: c.get('via'), address: clientAddress(c) }
}

/** `?limit=` (1 to 500, default 50) and `?last=` (the `next` of the previous page). */
export function paging(c: Context): { last: string; limit: number } {
  const raw = c.req.query('limit')
  let limit = DEFAULT_PAGE
  if (raw !== undefined) {
    if (!/^\d{1,9}$/.test(raw) || Number(raw) < 1)
      throw new ApiError('BAD_REQUEST', `limit must be a whole number from 1 to ${MAX_PAGE}`)
    limit = Math.min(Number(raw), MAX_PAGE)
  }
  return { last: c.req.query('last') ?? '', limit }
}

/** A time given as an ISO 8601 string or as epoch milliseconds, in epoch milliseconds. */
export function parseTime(value: unknown, key: string): number {
  const ms =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\d+$/.test(value)
        ? Number(value)
        : typeof value === 'string'
          ? Date.parse(value)
          : NaN
  if (!Number.isSafeInteger(ms) || ms < 0)
    throw new ApiError('BAD_REQUEST', `${key} must be an ISO 8601 time (2030-01-31T12:00:00Z) or epoch milliseconds`)
  return ms
}

/** One field of a JSON body: how to check it and whether it may be left out. */
export interface Field<T> {
  optional: boolean
  parse(value: unknown, key: string): T
}

type Out<F> = F extends Field<infer T> ? T : never
export type Shape = Record<string, Field<unknown>>
export type Parsed<S extends Shape> = { [K in keyof S]: Out<S[K]> }

const bad = (message: string) => new ApiError('BAD_REQUEST', message)

export function text(opts: { min?: number; max: number }): Field<string> {
  const min = opts.min ?? 0
  return {
    optional: false,
    parse(v, key) {
      if (typeof v !== 'string' || v.length < min || v.length > opts.max) {
        throw bad(`${key} must be a string of ${min === 0 ? 'at most' : `${min} to`} ${opts.max} characters`)
      }
      return v
    },
  }
}

export function flag(): Field<boolean> {
  return {
    optional: false,
    parse(v, key) {
      if (typeof v !== 'boolean') throw bad(`${key} must be true or false`)
      return v
    },
  }
}

export function oneOf<T extends string>(values: readonly T[]): Field<T> {
  return {
    optional: false,
    parse(v, key) {
      if (typeof v !== 'string' || !(values as readonly string[]).includes(v))
        throw bad(`${key} must be one of ${values.join(', ')}`)
      return v as T
    },
  }
}

/** An ISO 8601 time or epoch milliseconds. */
export function time(): Field<number> {
  return { optional: false, parse: parseTime }
}

export function listOf<T>(item: Field<T>, max: number): Field<T[]> {
  return {
    optional: false,
    parse(v, key) {
      if (!Array.isArray(v) || v.length > max) throw bad(`${key} must be a list of at most ${max} entries`)
      return v.map((x, i) => item.parse(x, `${key}[${i}]`))
    },
  }
}

export function nullable<T>(f: Field<T>): Field<T | null> {
  return { optional: f.optional, parse: (v, key) => (v === null ? null : f.parse(v, key)) }
}

export function optional<T>(f: Field<T>): Field<T | undefined> {
  return { optional: true, parse: (v, key) => f.parse(v, key) }
}

export function shape<S extends Shape>(spec: S): Field<Parsed<S>> {
  return { optional: false, parse: (v, key) => parseShape(v, spec, `${key}.`) }
}

/** Checks an object against `spec`: every required field present and valid, no field it does not know. */
export function parseShape<S extends Shape>(body: unknown, spec: S, prefix = ''): Parsed<S> {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw bad(`${prefix ? prefix.slice(0, -1) : 'the body'} must be a JSON object`)
  const obj = body as Record<string, unknown>
  for (const key of Object.keys(obj)) {
    // own keys only: `in` would also find __proto__, constructor and the rest of Object.prototype
    if (!Object.hasOwn(spec, key))
      throw bad(
        `unknown field ${prefix}${key}; expected ${Object.keys(spec)
          .map((k) => prefix + k)
          .join(', ')}`,
      )
  }
  const out: Record<string, unknown> = {}
  for (const [key, field] of Object.entries(spec)) {
    const value = obj[key]
    if (value === undefined) {
      if (!field.optional) throw bad(`${prefix}${key} is required`)
      continue
    }
    out[key] = field.parse(value, prefix + key)
  }
  return out as Parsed<S>
}

/**
 * Reads a JSON object body (Content-Type application/json, at most 64 KiB; the size is enforced as it streams by
 * the API's body limit) and checks it against `spec`. An empty body counts as `{}`.
 */
export async function readJson<S extends Shape>(c: Context, spec: S): Promise<Parsed<S>> {
  const raw = await c.req.text()
  if (raw === '') return parseShape({}, spec)
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(c.req.header('content-type') ?? '')) {
    throw bad('send a JSON object with Content-Type: application/json')
  }
  let body: unknown
  try {
    body = JSON.parse(raw)
  } catch {
    throw bad('the body is not valid JSON')
  }
  return parseShape(body, spec)
}
