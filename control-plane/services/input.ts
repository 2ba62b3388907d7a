// The checks of request fields are the schemas of control-plane/schemas.ts; what is left here formats answers.

/** Epoch milliseconds as an ISO 8601 time, or null. */
export const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString())
