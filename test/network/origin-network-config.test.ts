import { describe, expect, it } from 'vitest'
import { configProblems } from '../../lib/config.ts'
import { loadConfig } from '../../origin/config.ts'
import { TrustedProxies } from '../../origin/http/client-address.ts'

const problems = (env: Record<string, string>) => configProblems(() => loadConfig(env))

describe('origin cache network configuration', () => {
  it('defaults: no control plane, 10 s answers, 2 min grants, no trusted proxies', () => {
    const c = loadConfig({})
    expect(c.controlPlaneUrl).toBeUndefined()
    expect(c.assignmentTtlMs).toBe(10_000)
    expect(c.grantTtlMs).toBe(120_000)
    expect(c.trustedProxies).toEqual([])
  })

  it('reads the control plane URL, TTLs and trusted proxies', () => {
    const c = loadConfig({
      ORIGIN_CONTROL_PLANE_URL: 'https://cp.example:8443',
      ORIGIN_ASSIGNMENT_TTL: '30s',
      ORIGIN_GRANT_TTL: '15m',
      ORIGIN_TRUSTED_PROXIES: '10.0.0.0/8, 192.168.1.10 ,fd00::/8',
    })
    expect(c.controlPlaneUrl?.href).toBe('https://cp.example:8443/')
    expect(c.assignmentTtlMs).toBe(30_000)
    expect(c.grantTtlMs).toBe(900_000)
    expect(c.trustedProxies).toEqual(['10.0.0.0/8', '192.168.1.10/32', 'fd00::/8'])
  })

  it('names every bad value', () => {
    expect(problems({ ORIGIN_GRANT_TTL: '5s' })).toEqual(['ORIGIN_GRANT_TTL must be between 10s and 15m'])
    expect(problems({ ORIGIN_GRANT_TTL: '16m' })).toHaveLength(1)
    expect(problems({ ORIGIN_CONTROL_PLANE_URL: 'ftp://x' })[0]).toContain('ORIGIN_CONTROL_PLANE_URL')
    expect(problems({ ORIGIN_TRUSTED_PROXIES: '10.0.0.0/8,10.0.0.300/8,proxy' })).toHaveLength(2)
    expect(problems({ ORIGIN_TOKEN_SERVICE: 'wharf-blob-grant' })[0]).toContain('reserved for blob grants')
  })
})

describe('TrustedProxies', () => {
  const proxies = new TrustedProxies(['10.0.0.0/8', '127.0.0.1/32', 'fd00::/8'])

  it('believes X-Forwarded-For from a trusted peer only', () => {
    expect(proxies.resolve('10.1.1.1', '203.0.113.1')).toBe('203.0.113.1')
    expect(proxies.resolve('198.51.100.1', '203.0.113.1')).toBe('198.51.100.1')
    expect(new TrustedProxies([]).resolve('10.1.1.1', '203.0.113.1')).toBe('10.1.1.1')
  })

  it('takes the rightmost entry that is not a trusted proxy', () => {
    expect(proxies.resolve('10.1.1.1', '1.1.1.1, 203.0.113.1, 10.2.2.2, fd00::1')).toBe('203.0.113.1')
    expect(proxies.resolve('10.1.1.1', '10.3.3.3, 10.2.2.2')).toBe('10.3.3.3')
    expect(proxies.resolve('::ffff:127.0.0.1', '2001:db8::5')).toBe('2001:db8::5')
  })

  it('stops at an entry that is not an address', () => {
    expect(proxies.resolve('10.1.1.1', '203.0.113.1, garbage')).toBe('10.1.1.1')
    expect(proxies.resolve('10.1.1.1', 'garbage, 10.2.2.2')).toBe('10.2.2.2')
    expect(proxies.resolve('10.1.1.1', '')).toBe('10.1.1.1')
  })

  it('normalizes IPv4-mapped peers and keeps what it cannot parse', () => {
    expect(proxies.resolve('::ffff:198.51.100.7', null)).toBe('198.51.100.7')
    expect(proxies.resolve('unknown', '203.0.113.1')).toBe('unknown')
  })
})
