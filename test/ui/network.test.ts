/**
 * The cache network and bandwidth pages against a real network (origin, control plane, a cache node): sites with
 * their health on a map and a table, a site registered and given a join token in the UI, client networks and
 * assignments, the client configuration downloads, and a pull through the site drawn in the bandwidth charts with
 * the same numbers as the control plane's report.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, expect, it, vi } from 'vitest'
import { apiClient, createUser } from '../helpers/api.ts'
import type { Credentials } from '../helpers/auth.ts'
import { describeWithBrowser, launchBrowser, openPage, screenshot, signIn } from '../helpers/browser.ts'
import { pullBlob, startNetwork, uploadBlob, type Network } from '../helpers/network.ts'
import { TEST_ADMIN } from '../helpers/start-origin.ts'

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`

interface SiteCounters {
  site: string
  bytesServed: number
  bytesFromUpstream: number
  originEgressSaved: number
}

describeWithBrowser('cache network and bandwidth pages (headless Chromium)', () => {
  let net: Network
  let browser: Browser
  let dev: Credentials
  const BLOB = randomBytes(300_000)

  beforeAll(async () => {
    net = await startNetwork({
      sites: [{ name: 'eu', region: 'Europe', latitude: 53.35, longitude: -6.26, networks: ['10.10.0.0/16'] }],
    })
    dev = await createUser(apiClient(net.origin.url), TEST_ADMIN, 'dev')
    await uploadBlob(net.origin.url, 'dev/app', BLOB, dev)
    browser = await launchBrowser()
  })
  afterAll(async () => {
    await browser?.close()
    await net?.close()
  })

  it('shows the sites on a map and a table, registers a site and makes its join token', async () => {
    const { page, problems, context } = await openPage(browser)
    await signIn(page, net.origin.url, TEST_ADMIN)
    await page.getByRole('link', { name: 'Cache network' }).click()
    await page.waitForURL((u) => u.pathname === '/network')
    const eu = page.locator('#sites tr[data-site="eu"]')
    expect(await eu.textContent()).toContain('up')
    expect(await eu.textContent()).toContain('Europe')
    expect(await page.locator('#site-map g.site.up').count()).toBe(1)

    await page.getByLabel('Name', { exact: true }).fill('ap')
    await page.getByLabel('URL clients are sent to').fill('http://127.0.0.1:9')
    await page.getByLabel('Region').fill('Asia Pacific')
    await page.getByLabel('Latitude').first().fill('1.35')
    await page.getByLabel('Longitude').first().fill('103.8')
    await page.getByRole('button', { name: 'Register site' }).click()
    await expect.poll(() => page.locator('.notice').textContent()).toContain('Site ap registered')
    expect(await page.locator('#sites tr[data-site="ap"]').textContent()).toContain('unknown')
    expect(await page.locator('#site-map g.site').count()).toBe(2)
    await screenshot(page, 'network')

    await page.getByRole('link', { name: 'ap', exact: true }).click()
    await page.waitForURL((u) => u.pathname === '/network/sites/ap')
    await page.getByRole('button', { name: 'Make a join token' }).click()
    const line = (await page.locator('#new-secret code').textContent()) ?? ''
    expect(line).toMatch(/^CACHE_JOIN_TOKEN=\S{20,}$/)
    const tokens = await net.api('GET', '/join-tokens')
    expect((tokens.body.joinTokens as { site: string | null }[]).some((t) => t.site !== null)).toBe(true)
    expect(problems).toEqual([])
    await context.close()
  })

  it('adds a client network, assigns a user to a site, and offers each client its configuration', async () => {
    const { page, problems, context } = await openPage(browser)
    await signIn(page, net.origin.url, TEST_ADMIN)
    await page.goto(`${net.origin.url}/network`)
    await page.getByLabel('CIDR').fill('192.168.50.0/24')
    await page.getByLabel('Label').fill('office')
    await page.getByLabel('Latitude').nth(1).fill('48.85')
    await page.getByLabel('Longitude').nth(1).fill('2.35')
    await page.getByRole('button', { name: 'Add network' }).click()
    await expect.poll(() => page.locator('.notice').textContent()).toContain('Network 192.168.50.0/24 added')
    const nets = await net.api('GET', '/networks')
    expect((nets.body.networks as { cidr: string }[]).map((n) => n.cidr)).toContain('192.168.50.0/24')

    await page.getByLabel('Who', { exact: true }).fill('dev')
    await page.locator('form[action="/network/assignments"] select[name="site"]').selectOption('eu')
    await page.getByRole('button', { name: 'Assign' }).click()
    await expect.poll(() => page.locator('.notice').textContent()).toContain('user dev now pulls through eu')
    const assignments = await net.api('GET', '/assignments')
    expect(assignments.body.assignments).toEqual(expect.arrayContaining([{ kind: 'user', subject: 'dev', site: 'eu' }]))

    await page.goto(`${net.origin.url}/network/sites/eu`)
    expect(await page.locator('#health li').count()).toBeGreaterThan(0)
    await page.getByLabel('CIDRs, one per line').fill('10.10.0.0/16\n10.11.0.0/16')
    await page.getByRole('button', { name: 'Save networks' }).click()
    await expect.poll(() => page.locator('.notice').textContent()).toContain('eu serves 10.10.0.0/16, 10.11.0.0/16')
    const eu = await net.api('GET', '/sites/eu')
    expect(eu.body.networks).toEqual(['10.10.0.0/16', '10.11.0.0/16'])
    const docker = page.locator('.client-file', { hasText: 'docker' }).first()
    expect(await docker.locator('pre').textContent()).toContain(new URL(net.site('eu').url).host)
    const download = await page.request.get(`${net.origin.url}/network/sites/eu/client-config/docker`)
    expect(download.status()).toBe(200)
    expect(download.headers()['content-disposition']).toContain('attachment')
    expect(await download.text()).toBe(await docker.locator('pre').textContent())
    await screenshot(page, 'site')
    expect(problems).toEqual([])
    await context.close()
  })

  it('draws a pull through the site in the bandwidth charts, with the numbers of the report API', async () => {
    expect(
      (await pullBlob(net, { repo: 'dev/app', digest: sha256(BLOB), who: dev, address: '10.10.1.2' })).servedBy,
    ).toBe('eu')
    const report = async () => {
      const res = await net.api('GET', '/reports/bandwidth?granularity=hour')
      return res.body as { sites: SiteCounters[] }
    }
    await vi.waitFor(
      async () => expect((await report()).sites.find((s) => s.site === 'eu')?.bytesServed).toBe(BLOB.length),
      {
        timeout: 60_000,
        interval: 250,
      },
    )
    const api = await report()

    const { page, problems, context } = await openPage(browser)
    await signIn(page, net.origin.url, TEST_ADMIN)
    await page.goto(`${net.origin.url}/bandwidth?granularity=hour`)
    const canvas = page.locator('#chart-bytes canvas')
    await expect.poll(() => canvas.count()).toBe(1)
    // the chart has drawn: its canvas holds painted pixels
    const painted = await page.evaluate(`(() => {
      const c = document.querySelector('#chart-bytes canvas')
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data
      let n = 0
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++
      return n
    })()`)
    expect(painted).toBeGreaterThan(100)
    expect(await page.locator('#chart-sites canvas').count()).toBe(1)
    expect(await page.locator('#chart-ratio canvas').count()).toBe(1)

    for (const s of api.sites) {
      const row = page.locator(`#site-totals tr[data-site="${s.site}"] td[data-bytes]`)
      expect(await row.evaluateAll((tds) => tds.map((td) => Number(td.getAttribute('data-bytes'))))).toEqual([
        s.bytesServed,
        s.bytesFromUpstream,
        s.originEgressSaved,
      ])
    }
    const csv = await page.request.get(`${net.origin.url}/bandwidth.csv?granularity=hour`)
    expect(csv.status()).toBe(200)
    expect(await csv.text()).toBe((await net.api('GET', '/reports/bandwidth?granularity=hour&format=csv')).text)
    await screenshot(page, 'bandwidth')
    expect(problems).toEqual([])
    await context.close()
  })

  it('is for administrators only', async () => {
    const { page, problems, context } = await openPage(browser)
    await signIn(page, net.origin.url, dev)
    expect(await page.getByRole('link', { name: 'Cache network' }).count()).toBe(0)
    expect((await page.goto(`${net.origin.url}/network`))?.status()).toBe(403)
    expect((await page.goto(`${net.origin.url}/bandwidth`))?.status()).toBe(403)
    expect(problems.filter((p) => !p.includes('403'))).toEqual([])
    await context.close()
  })
})
