import { describe, expect, it } from 'vitest'
import { ConfigError } from '../lib/config.ts'
import { loadConfig, withBoundPort } from './config.ts'

const BASE = { CACHE_ORIGIN_URL: 'https://registry.example.com' }

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  return []
}

describe('loadConfig', () => {
  it('has defaults for everything but the origin', () => {
    const c = loadConfig(BASE)
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 5001 })
    expect(c.publicUrl.href).toBe('http://127.0.0.1:5001/')
    expect(c.upstream).toMatchObject({ key: 'wharf', kind: 'wharf' })
    expect(c.upstream.url.href).toBe('https://registry.example.com/')
    expect(c.rules).toEqual([])
    expect(c.maxBytes).toBe(10 * 2 ** 30)
    expect(c.tagTtlMs).toBe(60_000)
    expect(c.foreignPull).toBe('anyone')
    expect(c.fsync).toBe(true)
    expect(Object.isFrozen(c)).toBe(true)
  })

  it('requires CACHE_ORIGIN_URL and says what it is for', () => {
    expect(problems({}).join('\n')).toMatch(/CACHE_ORIGIN_URL is required: the Wharf origin/)
  })

  it('reads ns and prefix upstreams; entries naming one URL share one upstream', () => {
    const c = loadConfig({
      ...BASE,
      CACHE_UPSTREAMS:
        'docker.io=https://registry-1.docker.io, ghcr.io=https://ghcr.io\nhub/=https://registry-1.docker.io',
      CACHE_DOCKER_MIRROR: 'docker.io',
    })
    expect(c.rules.map((r) => (r.match === 'ns' ? r.ns : `${r.prefix}/`))).toEqual(['docker.io', 'ghcr.io', 'hub/'])
    expect(c.rules[0]!.upstream).toBe(c.rules[2]!.upstream)
    expect(c.rules[0]!.upstream).toMatchObject({ key: 'https://registry-1.docker.io', kind: 'foreign' })
    expect(c.dockerMirror).toBe('docker.io')
  })

  it('collects every problem at once, naming the variable and the fix', () => {
    const list = problems({
      CACHE_ORIGIN_URL: 'ftp://x',
      CACHE_UPSTREAM_URL: 'https://parent.example/v2/',
      CACHE_UPSTREAMS: 'docker.io=not-a-url hub/=https://h.example bad_host=https://x.example',
      CACHE_DOCKER_MIRROR: 'quay.io',
      CACHE_MAX_BYTES: 'lots',
      CACHE_TAG_TTL: 'soon',
      CACHE_FOREIGN_PULL: 'everyone',
      CACHE_UPSTREAM_CONCURRENCY: '0',
      CACHE_TLS_CERT: '/etc/cert.pem',
    })
    expect(list).toEqual([
      'CACHE_TLS_CERT and CACHE_TLS_KEY go together: set both (PEM files) for HTTPS, or neither for plain HTTP',
      'CACHE_ORIGIN_URL="ftp://x" is not an http:// or https:// URL',
      'CACHE_UPSTREAM_URL="https://parent.example/v2/" must be a bare http(s)://host[:port] with no path, query or credentials: registries live at the root',
      'CACHE_UPSTREAMS entry "docker.io=not-a-url" is not <registry>=<url> or <prefix>/=<url> with an http(s) URL and no path (e.g. docker.io=https://registry-1.docker.io)',
      'CACHE_UPSTREAMS key "bad_host" is neither a registry host (docker.io) nor a prefix ending in / (hub/)',
      'CACHE_DOCKER_MIRROR="quay.io" must name an ns entry of CACHE_UPSTREAMS (e.g. CACHE_UPSTREAMS=docker.io=https://registry-1.docker.io and CACHE_DOCKER_MIRROR=docker.io)',
      'CACHE_MAX_BYTES="lots" is not a size (use e.g. 512MiB, 50GiB or 1TB)',
      'CACHE_FOREIGN_PULL="everyone" must be one of anyone, authenticated',
      'CACHE_TAG_TTL="soon" is not a duration (use e.g. 500ms, 30s, 15m, 24h or 7d)',
      'CACHE_UPSTREAM_CONCURRENCY="0" must be a whole number from 1 to 1024',
    ])
  })

  it('refuses a zero cap', () => {
    expect(problems({ ...BASE, CACHE_MAX_BYTES: '0' })).toEqual(['CACHE_MAX_BYTES must be more than 0'])
  })

  it('follows the bound port when the public URL is derived', () => {
    const c = withBoundPort(loadConfig({ ...BASE, CACHE_LISTEN: '127.0.0.1:0' }), 4321)
    expect(c.publicUrl.href).toBe('http://127.0.0.1:4321/')
    const fixed = withBoundPort(
      loadConfig({ ...BASE, CACHE_LISTEN: '127.0.0.1:0', CACHE_PUBLIC_URL: 'https://cache.example' }),
      4321,
    )
    expect(fixed.publicUrl.href).toBe('https://cache.example/')
  })
})
