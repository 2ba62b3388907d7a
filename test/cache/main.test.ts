/**
 * `cache-node/main.ts` as a process: it prints WHARF_CACHE_READY when listening, serves HTTPS with
 * CACHE_TLS_CERT/CACHE_TLS_KEY, and refuses to start on bad configuration, naming every problem.
 */
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnCache } from '../helpers/start-cache.ts'

const root = join(import.meta.dirname, '../..')
let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-cache-main-'))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('cache-node/main.ts', () => {
  it('serves HTTPS with the configured certificate', async () => {
    const made = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { encoding: 'utf8' },
    )
    expect(made.status, made.stderr).toBe(0)
    const cache = await spawnCache({
      originUrl: 'http://127.0.0.1:1',
      env: { CACHE_TLS_CERT: join(dir, 'cert.pem'), CACHE_TLS_KEY: join(dir, 'key.pem') },
    })
    const agent = new Agent({ connect: { rejectUnauthorized: false } })
    try {
      const res = await request(`https://${cache.host}/v2/team/app/manifests/v1`, {
        method: 'PUT',
        body: '{}',
        dispatcher: agent,
      })
      expect(res.statusCode).toBe(405)
      expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0')
      await res.body.dump()
    } finally {
      await agent.close()
      await cache.close()
    }
  })

  it('exits with status 2 naming every configuration problem', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'cache-node/main.ts'], {
      cwd: root,
      env: { ...process.env, CACHE_ORIGIN_URL: '', CACHE_MAX_BYTES: 'big', CACHE_DATA_DIR: dir },
      encoding: 'utf8',
    })
    expect(run.status).toBe(2)
    expect(run.stderr).toContain('cache-node: invalid configuration')
    expect(run.stderr).toContain('CACHE_ORIGIN_URL is required')
    expect(run.stderr).toContain('CACHE_MAX_BYTES="big"')
  })
})
