import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createUser } from '../helpers/api.ts'
import { TEST_ADMIN } from '../helpers/start-origin.ts'
import { startNetwork, type Network } from './fixtures.ts'

const ROOT = join(import.meta.dirname, '../..')

let net: Network
beforeAll(async () => {
  net = await startNetwork()
})
afterAll(() => net.close())

/** Runs bin/wharf with the test network's control plane and admin credentials in the environment. */
function wharf(args: string[], opts: { env?: Record<string, string>; stdin?: string } = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(join(ROOT, 'bin/wharf'), args, {
      cwd: ROOT,
      env: {
        ...process.env,
        WHARF_CONTROL_PLANE_URL: net.cp.url,
        WHARF_USERNAME: TEST_ADMIN.username,
        WHARF_PASSWORD: TEST_ADMIN.password,
        ...opts.env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
    child.stdin.end(opts.stdin ?? '')
  })
}

describe('the wharf command-line tool', () => {
  test('create a site, list it as JSON and as a table, show it', async () => {
    const created = await wharf(['sites', 'create', 'cli-eu', '--url', 'https://cli-eu.example.com', '--region', 'eu', '--latitude', '50.1', '--longitude', '8.7', '--network', '10.5.0.0/16', '--capacity', '100GiB'])
    expect(created).toMatchObject({ code: 0, stderr: '' })
    expect(created.stdout).toMatch(/^created site cli-eu \(s_[0-9a-f]{16}\)/)

    const listed = await wharf(['sites', 'list', '--json'])
    expect(listed.code).toBe(0)
    const sites = JSON.parse(listed.stdout) as { name: string; capacityBytes: number; networks: string[] }[]
    expect(sites.find((s) => s.name === 'cli-eu')).toMatchObject({ capacityBytes: 100 * 2 ** 30, networks: ['10.5.0.0/16'] })

    const table = await wharf(['sites', 'list'])
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+ID\s+URL\s+REGION\s+STATE/)
    expect(table.stdout).toMatch(/cli-eu\s+s_[0-9a-f]{16}\s+https:\/\/cli-eu\.example\.com\s+eu\s+unknown/)

    const shown = await wharf(['sites', 'show', 'cli-eu'])
    expect(shown.stdout).toMatch(/region:\s+eu/)
    expect((await wharf(['sites', 'update', 'cli-eu', '--region', 'eu-central'])).code).toBe(0)
    expect(JSON.parse((await wharf(['sites', 'show', 'cli-eu', '--json'])).stdout).region).toBe('eu-central')
  })

  test('negative numbers are option values: --longitude -6.26', async () => {
    const created = await wharf(['sites', 'create', 'cli-dublin', '--url', 'https://cli-dublin.example.com', '--latitude', '-33.9', '--longitude', '-6.26'])
    expect(created).toMatchObject({ code: 0, stderr: '' })
    const site = JSON.parse((await wharf(['sites', 'show', 'cli-dublin', '--json'])).stdout) as { latitude: number; longitude: number }
    expect(site).toMatchObject({ latitude: -33.9, longitude: -6.26 })
    // an option still cannot take another option as its value
    const bad = await wharf(['sites', 'update', 'cli-dublin', '--region', '--default'])
    expect(bad.code).toBe(2)
  })

  test('create and list join tokens', async () => {
    const created = await wharf(['join-token', 'create', '--site', 'cli-eu', '--uses', '2', '--expires-in', '2h', '--json'])
    expect(created.code).toBe(0)
    const t = JSON.parse(created.stdout) as { id: string; token: string; usesLeft: number; site: string }
    expect(t).toMatchObject({ site: 'cli-eu', usesLeft: 2 })
    expect(t.token).toMatch(/^wharf_join_/)
    const human = await wharf(['join-token', 'create'])
    expect(human.stdout.split('\n')[0]).toMatch(/^wharf_join_j_[0-9a-f]{16}_[0-9a-f]{64}$/)
    const list = JSON.parse((await wharf(['join-token', 'list', '--json'])).stdout) as { id: string }[]
    expect(list.map((x) => x.id)).toContain(t.id)
    expect((await wharf(['join-token', 'revoke', t.id])).code).toBe(0)
  })

  test('assign and resolve', async () => {
    const joined = await net.join({ name: 'cli-up', url: 'https://cli-up.example.com' })
    await net.api.call('POST', `/sites/${joined.site.id}/heartbeat`, { bearer: joined.credential }, { version: '1' })
    expect((await wharf(['assign', 'set', 'user', 'alice', '--site', 'cli-up'])).code).toBe(0)
    expect((await wharf(['assign', 'set', 'team', 'acme/devs', '--site', 'cli-up'])).code).toBe(0)
    const list = JSON.parse((await wharf(['assign', 'list', '--json'])).stdout)
    expect(list).toContainEqual({ kind: 'team', subject: 'acme/devs', site: 'cli-up' })
    const resolved = await wharf(['assign', 'resolve', '--user', 'alice', '--address', '81.2.69.142'])
    expect(resolved.stdout).toMatch(/^cli-up \(https:\/\/cli-up\.example\.com\) by rule user/)
    expect((await wharf(['assign', 'unset', 'user', 'alice'])).code).toBe(0)
    const json = JSON.parse((await wharf(['assign', 'resolve', '--team', 'acme/devs', '--json'])).stdout)
    expect(json).toMatchObject({ rule: 'team', site: { name: 'cli-up' } })
  })

  test('networks add, list, remove', async () => {
    const added = JSON.parse((await wharf(['networks', 'add', '10.77.0.0/16', '--latitude', '1.5', '--longitude', '2.5', '--label', 'lab', '--json'])).stdout)
    expect(added).toMatchObject({ cidr: '10.77.0.0/16', label: 'lab' })
    expect((await wharf(['networks', 'list'])).stdout).toContain('10.77.0.0/16')
    expect((await wharf(['networks', 'remove', added.id])).code).toBe(0)
  })

  test('report as CSV, JSON and a table', async () => {
    const site = await net.join({ name: 'cli-metrics', url: 'https://cli-metrics.example.com' })
    await net.api.call('POST', `/sites/${site.site.id}/metrics`, { bearer: site.credential }, {
      batch: '1',
      entries: [{ repository: 'library/redis', hour: '2026-02-01T08:00:00.000Z', requests: 3, hits: 2, misses: 1, bytesToClients: 3000, bytesFromUpstream: 1000 }],
    })
    const range = ['--from', '2026-02-01T00:00:00Z', '--to', '2026-02-02T00:00:00Z']
    const csv = await wharf(['report', ...range, '--granularity', 'hour', '--format', 'csv'])
    expect(csv.code).toBe(0)
    expect(csv.stdout.split('\r\n')).toEqual([
      'period,site,repository,requests,hits,misses,hitRatio,bytesServed,bytesFromUpstream,originEgressSaved',
      '2026-02-01T08:00:00.000Z,cli-metrics,library/redis,3,2,1,0.6666666666666666,3000,1000,2000',
      '',
    ])
    const json = JSON.parse((await wharf(['report', ...range, '--format', 'json'])).stdout)
    expect(json.sites).toEqual([expect.objectContaining({ site: 'cli-metrics', originEgressSaved: 2000 })])
    const table = await wharf(['report', ...range])
    expect(table.stdout).toMatch(/library\/redis\s+3\s+2\s+1\s+66\.7%\s+2\.9 KiB/)
    expect(table.stdout).toContain('top repositories')
  })

  test('client-config prints one client file', async () => {
    const out = await wharf(['client-config', 'cli-eu', '--client', 'containerd'])
    expect(out.code).toBe(0)
    expect(out.stdout).toContain('[host."https://cli-eu.example.com"]')
    expect(out.stdout).toContain('capabilities = ["pull", "resolve"]')
  })

  test('the password can come from standard input', async () => {
    const res = await wharf(['sites', 'list', '--json', '--password-stdin'], {
      env: { WHARF_PASSWORD: '' },
      stdin: `${TEST_ADMIN.password}\n`,
    })
    expect(res.code).toBe(0)
  })

  test('API errors exit 1 with the message; usage errors exit 2', async () => {
    const missing = await wharf(['sites', 'show', 'ghost'])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/404 NOT_FOUND no site has the id or name "ghost"/)
    const dup = await wharf(['sites', 'create', 'cli-eu', '--url', 'https://x.example.com'])
    expect(dup.code).toBe(1)
    expect(dup.stderr).toMatch(/SITE_EXISTS/)
    const wrongPassword = await wharf(['sites', 'list'], { env: { WHARF_PASSWORD: 'wrong-password' } })
    expect(wrongPassword.code).toBe(1)
    expect(wrongPassword.stderr).toMatch(/refused the login/)
    const noCreds = await wharf(['sites', 'list'], { env: { WHARF_USERNAME: '', WHARF_PASSWORD: '' } })
    expect(noCreds.code).toBe(1)
    expect(noCreds.stderr).toMatch(/WHARF_USERNAME and WHARF_PASSWORD/)
    expect((await wharf(['sites', 'create'])).code).toBe(2)
    expect((await wharf(['sites', 'list', '--bogus'])).code).toBe(2)
    expect((await wharf(['frobnicate'])).code).toBe(2)
    expect((await wharf(['report', '--format', 'xml'])).code).toBe(2)
    const help = await wharf(['help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('join-token create')
  })

  test('a user who is not a system admin is told so', async () => {
    const bob = await createUser(net.originApi, TEST_ADMIN, 'bob')
    const res = await wharf(['sites', 'list'], { env: { WHARF_USERNAME: bob.username, WHARF_PASSWORD: bob.password } })
    expect(res.code).toBe(1)
    expect(res.stderr).toMatch(/not a system administrator/)
  })
})
