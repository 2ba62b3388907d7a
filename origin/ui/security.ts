import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { Context } from 'hono'
import { getCookie, setCookie } from 'hono/cookie'
import { SESSION_COOKIE } from '../http/api-auth.ts'
import type { AuthService } from '../services/auth.ts'
import { ANONYMOUS } from '../services/permissions.ts'
import type { UiEnv } from './env.ts'

export const CSRF_COOKIE = 'wharf_csrf'
/** The form field (and htmx header) that carries the CSRF token. */
export const CSRF_FIELD = '_csrf'
export const CSRF_HEADER = 'x-csrf-token'

/**
 * What a page may load: its own scripts and styles only (no inline script or style, no eval), images from itself
 * and https (a README's badges), no frames, forms only to itself.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' https:",
  "font-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ')

/** The security headers of every UI answer, pages and assets alike (set before the answer is made). */
export function setSecurityHeaders(c: Context): void {
  c.header('Content-Security-Policy', CONTENT_SECURITY_POLICY)
  c.header('X-Content-Type-Options', 'nosniff')
  c.header('X-Frame-Options', 'DENY')
  c.header('Referrer-Policy', 'same-origin')
  c.header('Cross-Origin-Opener-Policy', 'same-origin')
  // pages are per user and some show secrets once; assets set their own caching
  c.header('Cache-Control', 'no-store')
}

/**
 * The signed-in user from the session cookie (the UI reads nothing else: no basic auth, no tokens), and the CSRF
 * token of this browser: a random value in an HttpOnly, SameSite=Strict cookie that every state-changing request
 * must repeat in its form (or, from htmx, a header). A request from another site carries neither the cookie
 * (SameSite) nor the value; one whose Origin names another site is refused as well.
 */
export function startSession(c: Context<UiEnv>, deps: { auth: AuthService; secure: boolean }): void {
  const cookie = getCookie(c, SESSION_COOKIE)
  const principal = cookie ? deps.auth.sessionPrincipal(cookie) : undefined
  c.set('principal', principal ?? ANONYMOUS)
  c.set('via', principal ? 'session' : 'none')
  let csrf = getCookie(c, CSRF_COOKIE)
  if (!csrf || !/^[A-Za-z0-9_-]{43}$/.test(csrf)) {
    csrf = newCsrfToken()
    setCookie(c, CSRF_COOKIE, csrf, { path: '/', httpOnly: true, sameSite: 'Strict', secure: deps.secure })
  }
  c.set('csrf', csrf)
}

export function newCsrfToken(): string {
  return randomBytes(32).toString('base64url')
}

/** Whether a state-changing request proves it comes from one of this origin's own pages. */
export async function csrfValid(c: Context<UiEnv>): Promise<boolean> {
  const origin = c.req.header('origin')
  if (origin && origin !== new URL(c.req.url).origin && origin !== c.get('publicOrigin')) return false
  const fetchSite = c.req.header('sec-fetch-site')
  if (fetchSite && fetchSite !== 'same-origin' && fetchSite !== 'none') return false
  const expected = getCookie(c, CSRF_COOKIE)
  if (!expected) return false
  let given = c.req.header(CSRF_HEADER)
  if (!given) {
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>)
    const value = (form as Record<string, unknown>)[CSRF_FIELD]
    given = typeof value === 'string' ? value : undefined
  }
  if (!given) return false
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}
