import { zValidator } from '@hono/zod-validator'
import type { Env, MiddlewareHandler } from 'hono'
import type { z } from 'zod'
import { ApiError } from './api-error.ts'
import { describeIssues, parseJsonText, problemsMessage } from './validation.ts'

type Validated<Target extends string, T extends z.ZodType> = {
  in: { [K in Target]: z.input<T> }
  out: { [K in Target]: z.output<T> }
}

/** A 400 BAD_REQUEST naming each field and what it must be, with the problems as `detail`. */
function invalid(issues: readonly z.core.$ZodIssue[], input: unknown, what: string): ApiError {
  const problems = describeIssues(issues, input, what)
  return new ApiError('BAD_REQUEST', problemsMessage(problems), { detail: { problems } })
}

/**
 * Validates the JSON body against `schema` (read as `c.req.valid('json')`), for both JSON APIs. The body must be
 * sent as JSON (Content-Type application/json) unless it is empty, which counts as `{}`; its size is bounded as it
 * streams by the API's body limit (hono/body-limit). `what` names the body in messages.
 *
 * Not `zValidator('json', …)`: hono's JSON target reads a body sent with another media type (curl's default
 * form encoding) as `{}` and turns bad JSON into a bare HTTPException, so a typo'd script would be answered 200.
 */
export function jsonBody<E extends Env, T extends z.ZodType>(
  schema: T,
  what = 'the body',
): MiddlewareHandler<E, string, Validated<'json', T>> {
  return async (c, next) => {
    const body = parseJsonText(await c.req.text(), c.req.header('content-type'))
    if (!body.ok) throw new ApiError('BAD_REQUEST', body.message!)
    const r = await schema.safeParseAsync(body.value)
    if (!r.success) throw invalid(r.error.issues, body.value, what)
    c.req.addValidatedData('json', r.data as object)
    await next()
  }
}

/** Validates the query string against `schema` (read as `c.req.valid('query')`); a refusal is a 400 naming the parameter. */
export function queryOf<T extends z.ZodType>(schema: T) {
  return zValidator('query', schema, (r) => {
    if (!r.success) throw invalid(r.error.issues, r.data, 'the query')
  })
}
