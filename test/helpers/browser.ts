/**
 * Headless Chromium (Debian's, installed by scripts/ui.sh) driven by playwright-core, for the web UI's tests.
 *
 *   - chromium missing + WHARF_REQUIRE_CLIENTS=1 → the suite FAILS with the reason;
 *   - chromium missing otherwise               → the suite is skipped with a loud warning on stderr.
 *
 * Every page a test opens is watched: console errors, uncaught exceptions and Content-Security-Policy violations
 * are collected, and the tests assert there are none.
 */
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { describeWhenAvailable } from './requires.ts'

export const CHROMIUM = process.env.WHARF_CHROMIUM ?? '/usr/bin/chromium'

/** Where the tests' screenshots go (docs/ui/ holds a committed selection of them). */
export const SCREENSHOTS = join(import.meta.dirname, '..', '..', 'test-results', 'ui')

export function browserAvailable(): { ok: true } | { ok: false; reason: string } {
  return existsSync(CHROMIUM)
    ? { ok: true }
    : { ok: false, reason: `${CHROMIUM} not found: run sudo bash scripts/ui.sh install` }
}

/** `describe`, or a failing or skipped stand-in when there is no browser (see the module comment). */
export function describeWithBrowser(name: string, body: () => void): void {
  const a = browserAvailable()
  describeWhenAvailable('headless Chromium', a.ok ? { ok: true, value: undefined } : a, name, body)
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // no setuid sandbox in containers; /dev/shm is small there
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  })
}

export interface WatchedPage {
  page: Page
  /** Console errors, uncaught exceptions and CSP violations seen so far. */
  problems: string[]
}

/** A page in a fresh context (its own cookies), watched for errors. */
export async function openPage(
  browser: Browser,
  opts: { width?: number; height?: number; colorScheme?: 'light' | 'dark' } = {},
): Promise<WatchedPage & { context: BrowserContext }> {
  const context = await browser.newContext({
    viewport: { width: opts.width ?? 1280, height: opts.height ?? 860 },
    colorScheme: opts.colorScheme ?? 'light',
  })
  const page = await context.newPage()
  const problems: string[] = []
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`)
  })
  page.on('pageerror', (e) => problems.push(`exception: ${e.message}`))
  // CSP violations also reach the console; the event makes sure none goes unseen
  await page.addInitScript(
    "document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))",
  )
  return { page, problems, context }
}

/**
 * The problems other than the browser's note that a page came with one of the statuses a test expects (the 401 of a
 * refused sign-in, the 404 of a hidden repository): those are answers, not faults.
 */
export function unexpected(problems: readonly string[], ...statuses: number[]): string[] {
  return problems.filter(
    (p) => !statuses.some((s) => p.startsWith('console: Failed to load resource') && p.includes(`status of ${s}`)),
  )
}

/** Saves a full-page screenshot as test-results/ui/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true })
  const path = join(SCREENSHOTS, `${name}.png`)
  await page.screenshot({ path, fullPage: true })
  return path
}

/** Signs in through the sign-in form. */
export async function signIn(page: Page, base: string, creds: { username: string; password: string }): Promise<void> {
  await page.goto(`${base}/login`)
  await page.getByLabel('Username').fill(creds.username)
  await page.getByLabel('Password').fill(creds.password)
  await Promise.all([
    page.waitForURL((u) => !u.pathname.startsWith('/login')),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ])
}
