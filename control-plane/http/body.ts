import type { Context } from 'hono'
import { ApiError, badRequest } from '../errors.ts'

/** Largest JSON body read (a metrics batch of 10,000 entries fits). */
export const MAX_BODY_BYTES = 8 * 1024 * 1024

/** The request's JSON body; 400 when it is not JSON, 413 when too large. An empty body is `{}`. */
export async function jsonBody(c: Context): Promise<unknown> {
  const length = Number(c.req.header('content-length') ?? 0)
  if (length > MAX_BODY_BYTES) throw new ApiError('PAYLOAD_TOO_LARGE', `the body exceeds ${MAX_BODY_BYTES} bytes`)
  const text = await c.req.text()
  if (text.length > MAX_BODY_BYTES) throw new ApiError('PAYLOAD_TOO_LARGE', `the body exceeds ${MAX_BODY_BYTES} bytes`)
  if (text.trim() === '') return {}
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw badRequest('the body is not valid JSON')
  }
}
