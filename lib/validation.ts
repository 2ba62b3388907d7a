/**
 * The schema vocabulary of both JSON APIs (the origin's and the control plane's /api/v0), on zod: field types whose
 * messages say what a field must be, strict objects whose unknown fields are refused by name, and one way to turn a
 * failed parse into a sentence that names the field. Each program wraps `describeIssues` in its own error shape.
 */
import { z } from 'zod'

/** A string of `min` to `max` characters. */
export function text(max: number, min = 0): z.ZodString {
  const error = `must be a string of ${min === 0 ? 'at most' : `${min} to`} ${max} characters`
  return z.string({ error }).min(min, { error }).max(max, { error })
}

export function flag(): z.ZodBoolean {
  return z.boolean({ error: 'must be true or false' })
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `must be one of ${values.join(', ')}` })
}

/** A whole number from `min` to `max`. */
export function whole(min = 0, max = Number.MAX_SAFE_INTEGER): z.ZodNumber {
  const error = `must be a whole number from ${min} to ${max}`
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error })
}

/** A finite number from `min` to `max`. */
export function between(min: number, max: number): z.ZodNumber {
  const error = `must be a number from ${min} to ${max}`
  return z.number({ error }).min(min, { error }).max(max, { error })
}

/** A list of at most `max` items. */
export function listOf<T extends z.ZodType>(item: T, max: number): z.ZodArray<T> {
  const error = `must be a list of at most ${max} entries`
  return z.array(item, { error }).max(max, { error })
}

/**
 * An object that refuses fields it does not know, `__proto__` and `constructor` included (zod checks own keys), and
 * says which fields it takes.
 */
export function strict<S extends z.ZodRawShape>(shape: S): z.ZodObject<S, z.core.$strict> {
  const expected = Object.keys(shape).join(', ')
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? `expected ${expected || 'no fields'}` : 'must be a JSON object'),
  })
}

/** One refused field: where (`networks[0]`, `permissions[1].actions`; '' for the whole body) and why. */
export interface FieldProblem {
  path: string
  message: string
}

/**
 * The issues of a failed parse of `input` as sentences naming the field: `name is required`, `isAdmin must be true
 * or false`, `unknown field isadmin; expected name, kind, …`.
 */
export function describeIssues(issues: readonly z.core.$ZodIssue[], input: unknown, what = 'the body'): FieldProblem[] {
  return issues.map((issue) => {
    const path = pathText(issue.path)
    if (issue.code === 'unrecognized_keys') {
      const prefix = path ? `${path}.` : ''
      const names = issue.keys.map((k) => prefix + k).join(', ')
      const expected = issue.message.startsWith('expected ') ? `; ${issue.message}` : ''
      return { path, message: `unknown field${issue.keys.length > 1 ? 's' : ''} ${names}${expected}` }
    }
    const subject = path || what
    // an optional field never fails when left out: a failing field that is absent is a required one
    if (path && valueAt(input, issue.path) === undefined)
      return { path, message: `${subject} is required` }
    // our own messages read as predicates ("must be …"); zod's defaults are sentences of their own
    const own = /^(must|is|are|has|goes|go) /.test(issue.message)
    return { path, message: own ? `${subject} ${issue.message}` : `${subject}: ${issue.message}` }
  })
}

/** The problems as one message. */
export function problemsMessage(problems: readonly FieldProblem[]): string {
  return problems.map((p) => p.message).join('; ')
}

export interface ParsedJson {
  ok: boolean
  value?: unknown
  message?: string
}

/**
 * A request body's text as JSON: an empty body is `{}`; anything else needs a JSON media type (a form-encoded
 * body, curl's default, would otherwise be silently read as nothing) and must parse.
 */
export function parseJsonText(raw: string, contentType: string | undefined): ParsedJson {
  if (raw.trim() === '') return { ok: true, value: {} }
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(contentType ?? ''))
    return { ok: false, message: 'send a JSON object with Content-Type: application/json' }
  try {
    return { ok: true, value: JSON.parse(raw) as unknown }
  } catch {
    return { ok: false, message: 'the body is not valid JSON' }
  }
}

function pathText(path: readonly PropertyKey[]): string {
  let out = ''
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`
  return out
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input
  for (const p of path) {
    if (typeof v !== 'object' || v === null || !Object.hasOwn(v, p)) return undefined
    v = (v as Record<PropertyKey, unknown>)[p]
  }
  return v
}
