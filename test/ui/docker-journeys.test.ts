/**
 * The web UI's journeys with the real docker CLI: an image built from a Dockerfile with RUN, COPY and ENV lines is
 * pushed and then read in the browser (who pushed it, when, each line against its layer); access granted in the UI
 * changes what docker may pull and push; a token made in the UI logs docker in until it is revoked there.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { apiClient, createUser, type ApiClient } from '../helpers/api.ts'
import type { Credentials } from '../helpers/auth.ts'
import { describeWithBrowser, launchBrowser, openPage, screenshot, signIn } from '../helpers/browser.ts'
import { clientSandbox, describeWithClients, pushedDigest, type ClientSandbox } from '../helpers/clients.ts'
import { closeHttp, getManifest } from '../helpers/registry-http.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'

const DOCKERFILE = [
  'FROM scratch',
  // a static busybox as the shell: RUN lines need one and scratch has none
  'COPY busybox /bin/sh',
  'ENV GREETING=hello',
  'RUN echo "$GREETING" > /greeting.txt',
  'COPY a.txt /a.txt',
  'RUN echo built > /built.txt',
  'CMD ["/bin/sh"]',
].join('\n')

function buildContext(sb: ClientSandbox): string {
  const ctx = join(sb.dir, 'ctx')
  mkdirSync(ctx, { recursive: true })
  copyFileSync('/bin/busybox', join(ctx, 'busybox'))
  writeFileSync(join(ctx, 'a.txt'), `ui journey ${Date.now()}\n`)
  writeFileSync(join(ctx, 'Dockerfile'), `${DOCKERFILE}\n`)
  return ctx
}

async function fails(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!err) throw new Error('expected the command to fail')
  return String(err)
}

describeWithClients('web UI journeys with docker', (clients) => {
  describeWithBrowser('in headless Chromium', () => {
    let origin: Awaited<ReturnType<typeof startOrigin>>
    let api: ApiClient
    let browser: Browser
    let dev: Credentials
    let ops: Credentials
    let devBox: ClientSandbox
    let opsBox: ClientSandbox
    let ref: string

    beforeAll(async () => {
      origin = await startOrigin()
      api = apiClient(origin.url)
      dev = await createUser(api, TEST_ADMIN, 'dev')
      ops = await createUser(api, TEST_ADMIN, 'ops')
      devBox = clientSandbox(clients, 'ui-dev')
      opsBox = clientSandbox(clients, 'ui-ops')
      ref = `${origin.host}/dev/web:v1`
      browser = await launchBrowser()
    })
    afterAll(async () => {
      await browser?.close()
      await devBox?.docker(['rmi', '-f', ref]).catch(() => undefined)
      devBox?.cleanup()
      opsBox?.cleanup()
      await closeHttp(origin.url)
      await origin?.close()
    })

    it('shows a docker-built image: who pushed it, when, and each Dockerfile line against its layer', async () => {
      await devBox.login(origin.host, dev)
      await devBox.docker(['build', '--network=none', '-t', ref, buildContext(devBox)])
      const digest = pushedDigest((await devBox.docker(['push', ref])).output)
      const manifest = JSON.parse((await getManifest(origin.url, 'dev/web', 'v1')).body.toString()) as {
        layers: { digest: string }[]
      }
      expect(manifest.layers).toHaveLength(4)

      const { page, problems, context } = await openPage(browser)
      await signIn(page, origin.url, dev)
      await page.getByRole('link', { name: 'dev/web' }).click()
      await page.waitForURL((u) => u.pathname === '/repositories/dev/web')
      const row = page.locator('#tags tr[data-tag="v1"]')
      expect(await row.textContent()).toContain('by dev')
      expect(await row.locator('time').first().getAttribute('datetime')).toMatch(/^\d{4}-\d\d-\d\dT/)
      await row.getByRole('link', { name: 'v1', exact: true }).click()
      await page.waitForURL((u) => u.pathname === '/repositories/dev/web/_image/v1')
      expect(await page.locator('.digest-full').textContent()).toBe(digest)
      expect(await page.locator('#pusher').textContent()).toBe('dev')

      const steps = page.locator('#steps li')
      const lines = (await steps.locator('.line').allTextContents()).map((l) =>
        l.replace(/file:[0-9a-f]{64}/, 'file:…'),
      )
      expect(lines).toEqual([
        'COPY file:… in /bin/sh',
        'ENV GREETING=hello',
        'RUN echo "$GREETING" > /greeting.txt',
        'COPY file:… in /a.txt',
        'RUN echo built > /built.txt',
        'CMD ["/bin/sh"]',
      ])
      // the lines that made layers carry them, in the manifest's order; ENV and CMD made none
      const layerOf = async (i: number) => steps.nth(i).locator('.digest').getAttribute('title')
      expect(await layerOf(0)).toBe(manifest.layers[0]!.digest)
      expect(await steps.nth(1).locator('.digest').count()).toBe(0)
      expect(await layerOf(2)).toBe(manifest.layers[1]!.digest)
      expect(await layerOf(3)).toBe(manifest.layers[2]!.digest)
      expect(await layerOf(4)).toBe(manifest.layers[3]!.digest)
      expect(await steps.nth(5).locator('.digest').count()).toBe(0)
      expect(await page.locator('#env').textContent()).toContain('GREETING=hello')
      await screenshot(page, 'image-from-docker')
      expect(problems).toEqual([])
      await context.close()
    })

    it('changes what docker may pull and push when access is granted in the UI', async () => {
      await opsBox.login(origin.host, ops)
      await devBox.docker(['rmi', ref])
      expect(await fails(opsBox.docker(['pull', ref]))).toMatch(/denied|not found|unauthorized/i)

      const { page, problems, context } = await openPage(browser)
      await signIn(page, origin.url, dev)
      await page.goto(`${origin.url}/repositories/dev/web`)
      await page.getByLabel('Who', { exact: true }).fill('ops')
      await page.getByLabel('Level').selectOption('read')
      await page.getByRole('button', { name: 'Grant', exact: true }).click()
      await expect.poll(() => page.locator('.notice').textContent()).toContain('user ops now has read access')

      await opsBox.docker(['pull', ref])
      const other = `${origin.host}/dev/web:from-ops`
      await opsBox.docker(['tag', ref, other])
      expect(await fails(opsBox.docker(['push', other]))).toMatch(/denied|unauthorized/i)

      await page.getByLabel('Level').selectOption('write')
      await page.getByLabel('Who', { exact: true }).fill('ops')
      await page.getByRole('button', { name: 'Grant', exact: true }).click()
      await expect.poll(() => page.locator('.notice').textContent()).toContain('user ops now has write access')
      await opsBox.docker(['push', other])
      await opsBox.docker(['rmi', other])
      await screenshot(page, 'repository-access')
      expect(problems).toEqual([])
      await context.close()
    })

    it('creates an organization, a team and a grant in the UI, and docker may then push there', async () => {
      const target = `${origin.host}/acme/app:v1`
      await opsBox.docker(['tag', ref, target]).catch(async () => {
        await opsBox.docker(['pull', ref])
        await opsBox.docker(['tag', ref, target])
      })
      expect(await fails(opsBox.docker(['push', target]))).toMatch(/denied|unauthorized/i)

      const { page, problems, context } = await openPage(browser)
      await signIn(page, origin.url, TEST_ADMIN)
      await page.getByRole('link', { name: 'Organizations' }).click()
      await page.waitForURL((u) => u.pathname === '/orgs')
      await page.getByLabel('Organization name').fill('acme')
      await page.getByRole('button', { name: 'Create organization' }).click()
      await expect.poll(() => page.locator('.notice').textContent()).toContain('Organization acme created')
      await page.getByRole('link', { name: 'acme', exact: true }).click()
      await page.waitForURL((u) => u.pathname === '/orgs/acme')
      await page.getByLabel('User', { exact: true }).fill('ops')
      await page.getByRole('button', { name: 'Add member' }).click()
      await expect.poll(() => page.locator('.notice').textContent()).toContain('ops is a member of acme')
      await page.getByLabel('Team name').fill('builders')
      await page.getByRole('button', { name: 'Create team' }).click()
      await expect.poll(() => page.locator('.notice').textContent()).toContain('Team builders created')
      await page.getByRole('link', { name: 'builders' }).click()
      await page.waitForURL((u) => u.pathname === '/orgs/acme/teams/builders')
      await page.getByLabel('User', { exact: true }).fill('ops')
      await page.getByRole('button', { name: 'Add to team' }).click()
      await expect.poll(() => page.locator('#team-members').textContent()).toContain('ops')
      await page.getByRole('link', { name: 'acme' }).click()
      await page.waitForURL((u) => u.pathname === '/orgs/acme')
      await page.getByLabel('Who', { exact: true }).fill('builders')
      await page.getByLabel('Level').selectOption('write')
      await page.getByRole('button', { name: 'Grant on acme' }).click()
      await expect.poll(() => page.locator('.notice').textContent()).toContain('team builders now has write access')
      await screenshot(page, 'organization')

      await opsBox.docker(['push', target])
      await opsBox.docker(['rmi', target])
      expect((await api.call('GET', '/repositories/acme/app', ops)).status).toBe(200)
      expect(problems).toEqual([])
      await context.close()
    })

    it('makes a token docker can log in with, until it is revoked in the UI', async () => {
      const { page, problems, context } = await openPage(browser)
      await signIn(page, origin.url, ops)
      await page.getByRole('link', { name: 'Access tokens' }).click()
      await page.waitForURL((u) => u.pathname === '/tokens')
      await page.getByLabel('Token name').fill('laptop')
      await page.getByRole('button', { name: 'Create token' }).click()
      const secret = (await page.locator('#new-secret .copyable code').first().textContent()) ?? ''
      expect(secret).toMatch(/^wharf_pat_/)
      expect(await page.locator('#tokens tr[data-token="laptop"]').textContent()).toContain('active')
      await screenshot(page, 'tokens')

      const box = clientSandbox(clients, 'ui-token')
      try {
        const login = await box.docker(['login', '-u', 'ops', '--password-stdin', origin.host], { input: secret })
        expect(login.output).toContain('Login Succeeded')
        await box.docker(['logout', origin.host])

        // reloading does not show the secret again
        await page.goto(`${origin.url}/tokens`)
        expect(await page.locator('#new-secret').count()).toBe(0)
        expect(await page.content()).not.toContain(secret)
        await page.getByRole('button', { name: 'Revoke laptop' }).click()
        await expect.poll(() => page.locator('.notice').textContent()).toContain('Token revoked')
        expect(await page.locator('#tokens tr[data-token="laptop"]').textContent()).toContain('revoked')

        const refused = await fails(
          box.docker(['login', '-u', 'ops', '--password-stdin', origin.host], { input: secret }),
        )
        expect(refused).toMatch(/unauthorized|invalid/i)
      } finally {
        box.cleanup()
      }
      expect(problems).toEqual([])
      await context.close()
    })
  })
})
