import type { z } from 'zod'
import { jsonBody, queryOf } from '../../lib/validators.ts'
import type { AppEnv } from './env.ts'

/** Largest JSON body read (a metrics batch of 10,000 entries fits), bounded as it streams in app.ts. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024

/**
 * Validates the JSON body against `schema` (read as `c.req.valid('json')`): 400 when it is not JSON sent as JSON, or
 * when a field is missing, wrong or unknown (the message names it). An empty body is `{}`.
 */
export const json = <T extends z.ZodType>(schema: T) => jsonBody<AppEnv, T>(schema, 'the request body')

/** Validates the query string against `schema` (read as `c.req.valid('query')`). */
export const query = queryOf
