import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { apiClient, createUser, type ApiClient } from '../helpers/api.ts'
import type { Credentials } from '../helpers/auth.ts'
import { describeWithBrowser, launchBrowser, openPage, screenshot, signIn, unexpected } from '../helpers/browser.ts'
import { pushImage } from '../helpers/oci-fixtures.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'

// Values a hostile pusher or repository admin controls, each of which must show as text and never run.
const XSS = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>`
const HISTORY = [
  { created: '2026-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop) ADD file:abc in / ' },
  { created: '2026-01-01T00:00:01Z', created_by: `/bin/sh -c #(nop)  ENV NOTE=${XSS}`, empty_layer: true },
  { created: '2026-01-01T00:00:02Z', created_by: `/bin/sh -c echo '${XSS}' > /x` },
]

let origin: Awaited<ReturnType<typeof startOrigin>>
let api: ApiClient
let browser: Browser
let alice: Credentials

describeWithBrowser('web UI pages (headless Chromium)', () => {
  beforeAll(async () => {
    origin = await startOrigin()
    api = apiClient(origin.url)
    alice = await createUser(api, TEST_ADMIN, 'alice')
    await pushImage(origin.url, 'admin/shop', {
      ref: 'v1',
      layers: 2,
      config: {
        history: HISTORY,
        config: { Env: [`NOTE=${XSS}`], Labels: { 'org.example.note': XSS }, ExposedPorts: { '8080/tcp': {} } },
      },
    })
    await pushImage(origin.url, 'admin/shop', { ref: 'old' })
    await pushImage(origin.url, 'admin/secret', { ref: 'v1' })
    const patched = await api.call('PATCH', '/repositories/admin/shop', TEST_ADMIN, {
      description: `The shop ${XSS}`,
      longDescription: `# Shop\n\nRuns the **shop**. ${XSS}\n\n[bad link](javascript:window.__xss=3)`,
    })
    expect(patched.status).toBe(200)
    browser = await launchBrowser()
  })
  afterAll(async () => {
    await browser?.close()
    await origin?.close()
  })

  it('opens on the sign-in page, says when the password is wrong, and signs in and out', async () => {
    const { page, problems, context } = await openPage(browser)
    await page.goto(origin.url)
    expect(new URL(page.url()).pathname).toBe('/login')
    const headers = (await page.request.get(`${origin.url}/login`)).headers()
    expect(headers['content-security-policy']).toContain("script-src 'self'")
    expect(headers['content-security-policy']).not.toContain('unsafe-inline')
    await screenshot(page, 'sign-in')

    await page.getByLabel('Username').fill('admin')
    await page.getByLabel('Password').fill('wrong')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await expect.poll(() => page.locator('#login-error').textContent()).toContain('Wrong username or password')

    await signIn(page, origin.url, TEST_ADMIN)
    expect(new URL(page.url()).pathname).toBe('/repositories')
    const session = (await context.cookies()).find((c) => c.name === 'wharf_session')!
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict' })
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.waitForURL((u) => u.pathname === '/login')
    expect((await context.cookies()).some((c) => c.name === 'wharf_session')).toBe(false)
    expect(unexpected(problems, 401)).toEqual([])
    await context.close()
  })

  it('shows the login limit as a clear message', async () => {
    // mallory's guesses, ten of them from this address, use up what the limiter allows that pair
    await createUser(api, TEST_ADMIN, 'mallory')
    for (let i = 0; i < 10; i++) await api.call('POST', '/login', undefined, { username: 'mallory', password: 'nope' })
    const { page, problems, context } = await openPage(browser)
    await page.goto(`${origin.url}/login`)
    await page.getByLabel('Username').fill('mallory')
    await page.getByLabel('Password').fill('still guessing')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await expect.poll(() => page.locator('#login-error').textContent()).toMatch(/Too many failed sign-ins/)
    expect(unexpected(problems, 429)).toEqual([])
    await context.close()
  })

  it('lists, filters and sorts repositories, and shows a repository with its tags, pull command and access', async () => {
    const { page, problems, context } = await openPage(browser)
    await signIn(page, origin.url, TEST_ADMIN)
    const rows = page.locator('#results tbody tr')
    await expect.poll(() => rows.count()).toBe(2)
    await screenshot(page, 'repositories')
    // htmx updates the list in place as one types
    await page.getByLabel('Search').fill('sho')
    await expect.poll(() => rows.count()).toBe(1)
    expect(page.url()).toContain('q=sho')
    await expect.poll(() => rows.first().textContent()).toContain('admin/shop')
    // the same list without JavaScript: a plain GET
    const plain = await page.request.get(`${origin.url}/repositories?q=secret`)
    expect(await plain.text()).toContain('admin/secret')

    await page.getByRole('link', { name: 'admin/shop' }).click()
    await page.waitForURL((u) => u.pathname === '/repositories/admin/shop')
    const tags = page.locator('#tags tbody tr')
    await expect.poll(() => tags.count()).toBe(2)
    const v1 = page.locator('#tags tr[data-tag="v1"]')
    expect(await v1.textContent()).toContain('linux/amd64')
    expect(await v1.textContent()).toContain('by admin')
    expect(await v1.textContent()).toContain('never')
    expect(await page.locator('.copyable code').first().textContent()).toBe(
      `docker pull ${new URL(origin.url).host}/admin/shop:${await tags.first().getAttribute('data-tag')}`,
    )
    await expect.poll(() => page.getByRole('button', { name: 'Copy the pull command' }).isVisible()).toBe(true)
    // Markdown rendered, its HTML and script links not
    expect(await page.locator('.markdown h1').textContent()).toBe('Shop')
    expect(await page.locator('.markdown strong').textContent()).toBe('shop')
    expect(await page.locator('.markdown').textContent()).toContain('<script>')
    expect(await page.locator('.markdown a[href^="javascript"]').count()).toBe(0)
    expect(await page.locator('.lead').textContent()).toContain('<img src=x')
    await screenshot(page, 'repository')
    expect(await page.evaluate('window.__xss')).toBeUndefined()
    expect(problems).toEqual([])
    await context.close()
  })

  it('shows each Dockerfile line against its layer, the config, and hostile values as text', async () => {
    const { page, problems, context } = await openPage(browser)
    await signIn(page, origin.url, TEST_ADMIN)
    await page.goto(`${origin.url}/repositories/admin/shop`)
    await page.getByRole('link', { name: 'v1', exact: true }).click()
    await page.waitForURL((u) => u.pathname === '/repositories/admin/shop/_image/v1')
    const steps = page.locator('#steps li')
    await expect.poll(() => steps.count()).toBe(3)
    expect(await steps.nth(0).locator('.line').textContent()).toBe('ADD file:abc in /')
    expect(await steps.nth(1).locator('.line').textContent()).toBe(`ENV NOTE=${XSS}`)
    expect(await steps.nth(1).textContent()).toContain('no layer')
    expect(await steps.nth(2).locator('.line').textContent()).toBe(`RUN echo '${XSS}' > /x`)
    expect(await steps.nth(2).locator('.digest').count()).toBe(1)
    expect(await page.locator('#pusher').textContent()).toBe('admin')
    expect(await page.locator('#env').textContent()).toContain(`NOTE=${XSS}`)
    expect(await page.locator('#labels').textContent()).toContain(XSS)
    expect(await page.locator('#config').textContent()).toContain('8080/tcp')
    expect(await page.locator('main img').count()).toBe(0)
    expect(await page.locator('main script').count()).toBe(0)
    await screenshot(page, 'image')
    expect(await page.evaluate('window.__xss')).toBeUndefined()
    expect(problems).toEqual([])
    await context.close()
  })

  it('hides a private repository from whoever may not read it, in lists and by URL, until granted access', async () => {
    const { page, problems, context } = await openPage(browser)
    await signIn(page, origin.url, alice)
    expect(await page.locator('#results').textContent()).not.toContain('admin/secret')
    const direct = await page.goto(`${origin.url}/repositories/admin/secret`)
    expect(direct?.status()).toBe(404)
    expect((await page.goto(`${origin.url}/repositories/admin/secret/_image/v1`))?.status()).toBe(404)
    const anonymous = await page.request.get(`${origin.url}/repositories/admin/secret`, {
      headers: { cookie: '' },
    })
    expect(anonymous.status()).toBe(404)

    // the admin grants alice read access in the UI
    const admin = await openPage(browser)
    await signIn(admin.page, origin.url, TEST_ADMIN)
    await admin.page.goto(`${origin.url}/repositories/admin/secret`)
    await admin.page.getByLabel('Who', { exact: true }).fill('alice')
    await admin.page.getByLabel('Level').selectOption('read')
    await admin.page.getByRole('button', { name: 'Grant', exact: true }).click()
    await expect.poll(() => admin.page.locator('.notice').textContent()).toContain('user alice now has read access')
    expect(await admin.page.locator('#grants').textContent()).toContain('alice')

    await page.goto(`${origin.url}/repositories`)
    expect(await page.locator('#results').textContent()).toContain('admin/secret')
    expect((await page.goto(`${origin.url}/repositories/admin/secret`))?.status()).toBe(200)
    // read access shows no settings, no access list and no delete links
    expect(await page.locator('#grants').count()).toBe(0)
    expect(await page.getByRole('link', { name: /Delete tag/ }).count()).toBe(0)
    expect(unexpected(problems, 404)).toEqual([])
    expect(admin.problems).toEqual([])
    await admin.context.close()
    await context.close()
  })

  it('refuses a state-changing request without the form CSRF token, and deletes a tag after confirmation', async () => {
    const { page, problems, context } = await openPage(browser)
    await signIn(page, origin.url, TEST_ADMIN)
    await page.goto(`${origin.url}/repositories/admin/shop`)
    // the browser's own cookies, but no token: refused
    const forged = await page.evaluate(async () => {
      const r = await fetch('/repositories/admin/shop/_settings', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'visibility=public',
      })
      return r.status
    })
    expect(forged).toBe(403)
    expect((await api.call('GET', '/repositories/admin/shop', TEST_ADMIN)).body.visibility).toBe('private')

    await page.getByRole('link', { name: 'Delete tag old' }).click()
    await page.waitForURL((u) => u.pathname.endsWith('/_tags/old/delete'))
    await page.getByRole('button', { name: 'Delete old' }).click()
    await expect.poll(() => page.locator('.notice').textContent()).toContain('Tag old deleted')
    expect(await page.locator('#tags tr[data-tag="old"]').count()).toBe(0)
    const tags = await api.call('GET', '/repositories/admin/shop/_tags', TEST_ADMIN)
    expect(tags.body.tags.map((t: { name: string }) => t.name)).toEqual(['v1'])

    // the settings form, with its token, works
    await page.getByLabel('Visibility').selectOption('public')
    await page.getByRole('button', { name: 'Save' }).click()
    await expect.poll(() => page.locator('.notice').textContent()).toContain('Saved')
    expect((await api.call('GET', '/repositories/admin/shop', TEST_ADMIN)).body.visibility).toBe('public')
    expect(unexpected(problems, 403)).toEqual([])
    await context.close()
  })

  it("shows a repository's events as a timeline, everyone's to admins, and each user's own to them", async () => {
    const { page, problems, context } = await openPage(browser)
    await signIn(page, origin.url, TEST_ADMIN)
    await page.goto(`${origin.url}/repositories/admin/shop`)
    await page.getByRole('link', { name: /Events of this repository/ }).click()
    await page.waitForURL((u) => u.pathname === '/repositories/admin/shop/_events')
    const items = page.locator('#events li')
    await expect.poll(() => page.locator('#events li[data-action="push"]').count()).toBeGreaterThan(0)
    const push = page.locator('#events li[data-action="push"]').first()
    expect(await push.textContent()).toContain('admin')
    expect(await push.locator('.from').textContent()).toBe('127.0.0.1')
    // no event of another repository
    for (const t of await items.locator('.target').allTextContents()) expect(t).toMatch(/^admin\/shop($|[:@])/)
    await page.getByLabel('Action').selectOption('delete')
    await page.getByRole('button', { name: 'Filter' }).click()
    await page.waitForURL((u) => u.searchParams.get('action') === 'delete')
    expect(await page.locator('#events li').count()).toBeGreaterThan(0)
    expect(await page.locator('#events li:not([data-action="delete"])').count()).toBe(0)
    await screenshot(page, 'repository-events')

    await page.getByRole('link', { name: 'Events', exact: true }).click()
    await page.waitForURL((u) => u.pathname === '/events')
    await page.goto(`${origin.url}/events?action=login`)
    expect(await page.locator('h1').textContent()).toBe('Events')
    const logins = await page.locator('#events li .actor').allTextContents()
    expect(logins).toEqual(expect.arrayContaining(['admin', 'mallory']))
    await screenshot(page, 'events')

    const user = await openPage(browser)
    await signIn(user.page, origin.url, alice)
    await user.page.goto(`${origin.url}/events`)
    expect(await user.page.locator('h1').textContent()).toBe('Your activity')
    const actors = await user.page.locator('#events li .actor').allTextContents()
    expect(actors.length).toBeGreaterThan(0)
    expect(new Set(actors)).toEqual(new Set(['alice']))
    expect(user.problems).toEqual([])
    await user.context.close()
    expect(problems).toEqual([])
    await context.close()
  })

  it('lets an admin create a user (password shown once), promote and deactivate them', async () => {
    const { page, problems, context } = await openPage(browser)
    await signIn(page, origin.url, TEST_ADMIN)
    await page.getByRole('link', { name: 'Users' }).click()
    await page.waitForURL((u) => u.pathname === '/users')
    await page.getByLabel('Username').fill('carol')
    await page.getByLabel('Full name').fill(XSS)
    await page.getByRole('button', { name: 'Create user' }).click()
    expect(await page.locator('#users tr[data-user="carol"]').textContent()).toContain(XSS)
    expect(await page.evaluate('window.__xss')).toBeUndefined()
    const password = (await page.locator('#new-secret code').textContent()) ?? ''
    expect(password.length).toBeGreaterThan(16)
    const carol = await openPage(browser)
    await signIn(carol.page, origin.url, { username: 'carol', password })
    expect(await carol.page.locator('.user').textContent()).toBe('carol')
    // carol is no admin: no Users page for her
    expect(await carol.page.getByRole('link', { name: 'Users' }).count()).toBe(0)
    expect((await carol.page.goto(`${origin.url}/users`))?.status()).toBe(403)

    await page.locator('#users tr[data-user="carol"]').getByRole('button', { name: 'Deactivate' }).click()
    await expect.poll(() => page.locator('.notice').textContent()).toContain('carol is deactivated')
    // her session is gone at once
    await carol.page.goto(`${origin.url}/tokens`)
    expect(new URL(carol.page.url()).pathname).toBe('/login')
    await screenshot(page, 'users')
    expect(unexpected(carol.problems, 403)).toEqual([])
    await carol.context.close()
    expect(problems).toEqual([])
    await context.close()
  })

  it('lets an admin switch create-on-push and rotate the signing key; others get no settings', async () => {
    const { page, problems, context } = await openPage(browser)
    await signIn(page, origin.url, TEST_ADMIN)
    await page.goto(`${origin.url}/settings`)
    await page.getByLabel(/Create a repository on its first push/).uncheck()
    await page.getByRole('button', { name: 'Save registry settings' }).click()
    await expect.poll(() => page.locator('.notice').textContent()).toContain('must now be created')
    expect((await api.call('GET', '/meta/settings', TEST_ADMIN)).body).toEqual({ createRepositoryOnPush: false })
    await page.getByLabel(/Create a repository on its first push/).check()
    await page.getByRole('button', { name: 'Save registry settings' }).click()
    await expect.poll(() => page.locator('.notice').textContent()).toContain('Pushes create repositories')
    expect((await api.call('GET', '/meta/settings', TEST_ADMIN)).body).toEqual({ createRepositoryOnPush: true })

    const before = origin.deps.identity.keys.signing().kid
    await page.getByRole('button', { name: 'Rotate the signing key' }).click()
    await expect.poll(() => page.locator('.notice').textContent()).toMatch(/New signing key \S+ in use/)
    expect(origin.deps.identity.keys.signing().kid).not.toBe(before)

    const user = await openPage(browser)
    await signIn(user.page, origin.url, alice)
    expect((await user.page.goto(`${origin.url}/settings`))?.status()).toBe(403)
    expect(await user.page.getByRole('link', { name: 'Settings' }).count()).toBe(0)
    expect(unexpected(user.problems, 403)).toEqual([])
    await user.context.close()
    expect(problems).toEqual([])
    await context.close()
  })

  it('can be used from the keyboard: a skip link first, then the navigation, with a visible focus', async () => {
    const { page, problems, context } = await openPage(browser)
    await signIn(page, origin.url, TEST_ADMIN)
    await page.goto(`${origin.url}/repositories`)
    await page.keyboard.press('Tab')
    expect(await page.evaluate('document.activeElement.textContent.trim()')).toBe('Skip to content')
    expect(await page.evaluate('getComputedStyle(document.activeElement).outlineStyle')).toBe('solid')
    await page.keyboard.press('Enter')
    expect(await page.evaluate('document.activeElement.id')).toBe('main')
    await page.keyboard.press('Tab')
    await page.keyboard.press('Tab')
    expect(await page.evaluate('document.activeElement.tagName')).toMatch(/^(A|INPUT|SELECT|BUTTON)$/)
    expect(problems).toEqual([])
    await context.close()
  })

  it('fits a phone-width screen and follows a dark system theme', async () => {
    const { page, problems, context } = await openPage(browser, { width: 390, height: 844, colorScheme: 'dark' })
    await signIn(page, origin.url, TEST_ADMIN)
    await page.goto(`${origin.url}/repositories/admin/shop/_image/v1`)
    const overflow = await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')
    expect(overflow).toBeLessThanOrEqual(0)
    const bg = await page.evaluate('getComputedStyle(document.body).backgroundColor')
    expect(bg).toBe('rgb(15, 18, 22)')
    await screenshot(page, 'image-phone-dark')
    expect(problems).toEqual([])
    await context.close()
  })
})
