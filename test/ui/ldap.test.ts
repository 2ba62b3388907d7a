import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { describeWithBrowser, launchBrowser, openPage, screenshot, signIn } from '../helpers/browser.ts'
import { describeWithSlapd, GROUPS_DN, PEOPLE_DN, startSlapd, type Slapd } from '../helpers/slapd.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'

describeWithSlapd('web UI with a directory', () => {
  describeWithBrowser('in headless Chromium', () => {
    let slapd: Slapd
    let origin: Awaited<ReturnType<typeof startOrigin>>
    let browser: Browser

    beforeAll(async () => {
      slapd = await startSlapd()
      origin = await startOrigin()
      browser = await launchBrowser()
    })
    afterAll(async () => {
      await browser?.close()
      await origin?.close()
      await slapd?.stop()
    })

    it('configures LDAP, tests the connection, syncs now and shows the result; a directory user signs in', async () => {
      const { page, problems, context } = await openPage(browser)
      await signIn(page, origin.url, TEST_ADMIN)
      await page.getByRole('link', { name: 'Settings' }).click()
      await page.waitForURL((u) => u.pathname === '/settings')
      expect(await page.getByText('No sync has run yet.').count()).toBe(1)

      // a wrong password first: the test says which step failed, and nothing is saved
      await page.getByLabel('Server URL').fill(slapd.url)
      await page.getByLabel('Service account DN').fill(slapd.readerDn)
      await page.getByLabel(/Service account password/).fill('wrong')
      await page.getByLabel('User search base').fill(PEOPLE_DN)
      await page.getByLabel('Group search base').fill(GROUPS_DN)
      await page.getByRole('button', { name: 'Test connection' }).click()
      await expect.poll(() => page.locator('#ldap-test').textContent()).toMatch(/Test failed: .*bind/i)

      await page.getByLabel(/Service account password/).fill(slapd.readerPassword)
      await page.getByRole('button', { name: 'Test connection' }).click()
      await expect.poll(() => page.locator('#ldap-test').textContent()).toMatch(/Connection works: \d+ users found/)
      expect(await page.content()).not.toContain(slapd.readerPassword)

      // the tested values are still in the form; the password is not, and is typed again to save
      expect(await page.getByLabel('Server URL').inputValue()).toBe(slapd.url)
      expect(await page.getByLabel(/Service account password/).inputValue()).toBe('')
      await page.getByLabel(/Service account password/).fill(slapd.readerPassword)
      await page.getByLabel(/Sign in and sync with the directory/).check()
      await page.getByRole('button', { name: 'Save LDAP settings' }).click()
      await expect.poll(() => page.locator('.notice').textContent()).toContain('LDAP settings saved')
      // the password is kept, never shown back
      expect(await page.getByLabel(/Service account password/).inputValue()).toBe('')
      expect(await page.content()).not.toContain(slapd.readerPassword)

      await page.getByRole('button', { name: 'Sync now' }).click()
      await expect.poll(() => page.locator('.notice').textContent()).toMatch(/Sync done: \d+ users found/)
      expect(await page.locator('#last-sync').textContent()).toContain('ok')
      expect(await page.locator('#last-sync').textContent()).toMatch(/\d+ users found/)
      await screenshot(page, 'settings')

      const alice = await openPage(browser)
      await signIn(alice.page, origin.url, { username: 'alice', password: 'alice-password' })
      expect(await alice.page.locator('.user').textContent()).toBe('alice')
      expect(alice.problems).toEqual([])
      await alice.context.close()
      expect(problems).toEqual([])
      await context.close()
    })
  })
})
