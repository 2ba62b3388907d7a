/**
 * A Signature Version 4 check of presigned S3 URLs, written from AWS's description of query-string authentication
 * (canonical request, string to sign, the HMAC key chain), so that the URLs Wharf hands out can be checked against
 * something other than the SDK that made them, and this checker against AWS's own published example.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'

const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest()
const sha256hex = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex')

/** RFC 3986 percent-encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ (and `/` in paths). */
function encode(s: string, keepSlash = false): string {
  return [...Buffer.from(s, 'utf8')]
    .map((b) => {
      const c = String.fromCharCode(b)
      if (/[A-Za-z0-9\-_.~]/.test(c) || (keepSlash && c === '/')) return c
      return `%${b.toString(16).toUpperCase().padStart(2, '0')}`
    })
    .join('')
}

export interface PresignCheck {
  ok: boolean
  reason?: string
  /** When the URL stops being valid (X-Amz-Date + X-Amz-Expires). */
  expiresAt?: Date
}

/** Whether `url` carries a valid SigV4 query signature for `secretAccessKey` (method GET unless given). */
export function checkPresignedUrl(url: string, secretAccessKey: string, method = 'GET'): PresignCheck {
  const u = new URL(url)
  const q = u.searchParams
  const signature = q.get('X-Amz-Signature')
  const credential = q.get('X-Amz-Credential')
  const amzDate = q.get('X-Amz-Date')
  const expires = q.get('X-Amz-Expires')
  const signedHeaders = q.get('X-Amz-SignedHeaders')
  if (q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') return { ok: false, reason: 'not AWS4-HMAC-SHA256' }
  if (!signature || !credential || !amzDate || !expires || !signedHeaders)
    return { ok: false, reason: 'a parameter is missing' }
  const [, date, region, service, terminator] = credential.split('/')
  if (!date || !region || !service || terminator !== 'aws4_request')
    return { ok: false, reason: 'bad credential scope' }
  const query = [...q.entries()]
    .filter(([k]) => k !== 'X-Amz-Signature')
    .map(([k, v]) => [encode(k), encode(v)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&')
  const headers = signedHeaders.split(';')
  const headerValues: Record<string, string> = { host: u.host }
  if (headers.some((h) => !(h in headerValues)))
    return { ok: false, reason: `signs headers this check cannot see: ${signedHeaders}` }
  const canonical = [
    method,
    // S3 does not encode the path twice: its segments as they stand in the URL, decoded once, encoded once
    decodeURIComponent(u.pathname)
      .split('/')
      .map((seg) => encode(seg))
      .join('/'),
    query,
    headers.map((h) => `${h}:${headerValues[h]!.trim()}\n`).join(''),
    signedHeaders,
    q.get('X-Amz-Content-Sha256') ?? 'UNSIGNED-PAYLOAD',
  ].join('\n')
  const scope = `${date}/${region}/${service}/aws4_request`
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256hex(canonical)].join('\n')
  const key = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date), region), service), 'aws4_request')
  const expected = hmac(key, stringToSign).toString('hex')
  const ok = expected.length === signature.length && timingSafeEqual(Buffer.from(expected), Buffer.from(signature))
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate)
  const signedAt = m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : NaN
  return {
    ok,
    ...(ok ? {} : { reason: 'signature mismatch' }),
    expiresAt: new Date(signedAt + Number(expires) * 1000),
  }
}
