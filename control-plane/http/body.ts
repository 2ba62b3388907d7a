import { zValidator } from '@hono/zod-validator'
import type { MiddlewareHandler } from 'hono'
import type { z } from 'zod'
import { describeIssues, parseJsonText, problemsMessage } from '../../lib/validation.ts'
import { ApiError, badRequest } from '../../lib/api-error.ts'
import type { AppEnv } from './env.ts'

/** Largest JSON body read (a metrics batch of 10,000 entries fits). */
export const MAX_BODY_BYTES = 8 * 1024 * 1024

const invalid = (issues: readonly z.core.$ZodIssue[], input: unknown, what: string) =>
  badRequest(problemsMessage(describeIssues(issues, input, what)))

type Validated<Target extends string, T extends z.ZodType> = {
  in: { [K in Target]: z.input<T> }
  out: { [K in Target]: z.output<T> }
}

/**
 * Validates the JSON body against `schema` (read as `c.req.valid('json')`): 413 when too large, 400 when it is not
 * JSON sent as JSON, or when a field is missing, wrong or unknown (the message names it). An empty body is `{}`.
 * Not `zValidator('json', …)`, whose JSON target reads a body of another media type as `{}`.
 */
export function json<T extends z.ZodType>(schema: T): MiddlewareHandler<AppEnv, string, Validated<'json', T>> {
  return async (c, next) => {
    const length = Number(c.req.header('content-length') ?? 0)
    if (length > MAX_BODY_BYTES) throw new ApiError('PAYLOAD_TOO_LARGE', `the body exceeds ${MAX_BODY_BYTES} bytes`)
    const text = await c.req.text()
    if (text.length > MAX_BODY_BYTES) throw new ApiError('PAYLOAD_TOO_LARGE', `the body exceeds ${MAX_BODY_BYTES} bytes`)
    const body = parseJsonText(text, c.req.header('content-type'))
    if (!body.ok) throw badRequest(body.message!)
    const r = await schema.safeParseAsync(body.value)
    if (!r.success) throw invalid(r.error.issues, body.value, 'the request body')
    c.req.addValidatedData('json', r.data as object)
    await next()
  }
}

/** Validates the query string against `schema` (read as `c.req.valid('query')`); a refusal is a 400 naming the parameter. */
export function query<T extends z.ZodType>(schema: T) {
  return zValidator('query', schema, (r) => {
    if (!r.success) throw invalid(r.error.issues, r.data, 'the query')
  })
}
