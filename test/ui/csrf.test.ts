import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApiServices } from '../../origin/routes/api/services.ts'
import { uiRoutes } from '../../origin/ui/routes.tsx'
import { pushImage } from '../helpers/oci-fixtures.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'

let origin: Awaited<ReturnType<typeof startOrigin>>
let cookie: string

beforeAll(async () => {
  origin = await startOrigin()
  await pushImage(origin.url, 'admin/shop', { ref: 'v1' })
  const r = await fetch(`${origin.url}/api/v0/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(TEST_ADMIN),
  })
  cookie = r.headers.get('set-cookie')!.split(';')[0]!
})
afterAll(async () => {
  await origin?.close()
})

/** A concrete path for a route pattern: repository names, then any other parameter. */
function concrete(pattern: string): string {
  return pattern
    .replace(/:name\{[^}]*\}\}?/, 'admin/shop')
    .replace(/:[a-zA-Z]+(\{[^}]*\})?/g, (m) => (m.startsWith(':tag') ? 'v1' : 'x'))
}

describe('every state-changing UI route', () => {
  const posts = () => uiRoutes(origin.deps, createApiServices(origin.deps)).routes.filter((r) => r.method === 'POST')

  it('refuses a signed-in POST without the CSRF token, changing nothing', async () => {
    const routes = posts()
    expect(routes.length).toBeGreaterThan(15)
    const before = origin.deps.identity.events.list({ limit: 1 })[0]?.id
    for (const r of routes) {
      const path = concrete(r.path)
      const res = await fetch(`${origin.url}${path}`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'name=x&visibility=public&user=admin&subject=admin&role=admin&createRepositoryOnPush=1',
        redirect: 'manual',
      })
      expect({ path, status: res.status }).toEqual({ path, status: 403 })
      expect(res.headers.get('content-security-policy')).toContain("default-src 'none'")
    }
    // nothing happened: no event was recorded by any of them
    expect(origin.deps.identity.events.list({ limit: 1 })[0]?.id).toBe(before)
  })

  it('refuses a POST whose token is from another browser, or whose Origin is another site', async () => {
    const page = await fetch(`${origin.url}/repositories`, { headers: { cookie } })
    const csrf = /wharf_csrf=([^;]+)/.exec(page.headers.get('set-cookie') ?? '')![1]!
    const other = await fetch(`${origin.url}/repositories`, { headers: { cookie } })
    const otherCsrf = /wharf_csrf=([^;]+)/.exec(other.headers.get('set-cookie') ?? '')![1]!
    const send = (token: string, extra: Record<string, string> = {}) =>
      fetch(`${origin.url}/settings/registry`, {
        method: 'POST',
        headers: {
          cookie: `${cookie}; wharf_csrf=${csrf}`,
          'content-type': 'application/x-www-form-urlencoded',
          ...extra,
        },
        body: `_csrf=${token}&createRepositoryOnPush=1`,
        redirect: 'manual',
      })
    expect((await send(otherCsrf)).status).toBe(403)
    expect((await send(csrf, { origin: 'https://evil.example' })).status).toBe(403)
    expect((await send(csrf, { 'sec-fetch-site': 'cross-site' })).status).toBe(403)
    expect((await send(csrf)).status).toBe(200)
  })
})
