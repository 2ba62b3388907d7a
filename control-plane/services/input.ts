import { badRequest } from '../errors.ts'

/** Checks of JSON input fields; each throws a 400 naming the field and what it should be. */
export function object(v: unknown, what = 'the request body'): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw badRequest(`${what} must be a JSON object`)
  return v as Record<string, unknown>
}

/** Refuses keys not in `allowed`, so a typo is an error rather than silently ignored. */
export function onlyKeys(body: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(body)) {
    if (!allowed.includes(k)) throw badRequest(`unknown field "${k}" (allowed: ${allowed.join(', ')})`)
  }
}

export function str(v: unknown, key: string, opts: { max?: number; min?: number } = {}): string {
  const max = opts.max ?? 255
  const min = opts.min ?? 1
  if (typeof v !== 'string' || v.length < min || v.length > max)
    throw badRequest(`${key} must be a string of ${min} to ${max} characters`)
  return v
}

export function int(v: unknown, key: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max)
    throw badRequest(`${key} must be a whole number from ${min} to ${max}`)
  return v
}

export function num(v: unknown, key: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
    throw badRequest(`${key} must be a number from ${min} to ${max}`)
  return v
}

export function bool(v: unknown, key: string): boolean {
  if (typeof v !== 'boolean') throw badRequest(`${key} must be true or false`)
  return v
}

export function strings(v: unknown, key: string, max = 1000): string[] {
  if (!Array.isArray(v) || v.length > max || v.some((s) => typeof s !== 'string'))
    throw badRequest(`${key} must be an array of at most ${max} strings`)
  return v as string[]
}

/** An http(s) URL at a host's root, kept as its origin (`https://host[:port]`, no trailing slash). */
export function rootUrl(v: unknown, key: string): string {
  let u: URL | undefined
  try {
    u = typeof v === 'string' ? new URL(v) : undefined
  } catch {
    u = undefined
  }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.pathname !== '/' || u.search || u.hash || u.username || u.password)
    throw badRequest(`${key} must be an http(s) URL at a host's root, such as https://cache-eu.example.com`)
  return u.origin
}

/** An ISO 8601 time (`2026-11-23T14:00:00Z`) in epoch milliseconds. */
export function isoTime(v: unknown, key: string): number {
  const ms = typeof v === 'string' && /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(v) ? Date.parse(v) : NaN
  if (!Number.isFinite(ms)) throw badRequest(`${key} must be an ISO 8601 time such as 2026-11-23T14:00:00Z`)
  return ms
}

export const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString())
