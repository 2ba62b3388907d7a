import type { Context } from 'hono'
import { z } from 'zod'
import { strict } from '../../../lib/validation.ts'
import { jsonBody, queryOf } from '../../../lib/validators.ts'
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

const TIME_ERROR = 'must be an ISO 8601 time (2030-01-31T12:00:00Z) or epoch milliseconds'

/** A time given as an ISO 8601 string or as epoch milliseconds (a number, or digits in a query), in epoch ms. */
export function time() {
  return z.union([z.number(), z.string()], { error: TIME_ERROR }).transform((v, ctx) => {
    const ms = typeof v === 'number' ? v : /^\d+$/.test(v) ? Number(v) : Date.parse(v)
    if (Number.isSafeInteger(ms) && ms >= 0) return ms
    ctx.addIssue({ code: 'custom', message: TIME_ERROR })
    return z.NEVER
  })
}

/** `?limit=` (1 to 500, default 50; more is cut to 500) and `?last=` (the `next` of the previous page). */
export const PAGE = {
  limit: z
    .string({ error: `must be a whole number from 1 to ${MAX_PAGE}` })
    .regex(/^\d{1,9}$/, { error: `must be a whole number from 1 to ${MAX_PAGE}` })
    .transform(Number)
    .refine((n) => n >= 1, { error: `must be a whole number from 1 to ${MAX_PAGE}` })
    .transform((n) => Math.min(n, MAX_PAGE))
    .default(DEFAULT_PAGE),
  last: z.string().default(''),
}

/** The query of a list without filters. */
export const PAGE_QUERY = strict(PAGE)

/**
 * Validates the JSON body against `schema` (read as `c.req.valid('json')`). The body must be sent as JSON
 * (Content-Type application/json) unless it is empty, which counts as `{}`; its size is bounded as it streams by the
 * API's body limit. A refusal is a 400 BAD_REQUEST naming each field and what it must be.
 */
export const json = <T extends z.ZodType>(schema: T) => jsonBody<ApiEnv, T>(schema)

/** Validates the query string against `schema` (read as `c.req.valid('query')`); a refusal is a 400 naming the parameter. */
export const query = queryOf
