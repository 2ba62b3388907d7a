import { describe, expect, it } from 'vitest'
import { configProblems } from '../lib/config.ts'
import { loadConfig, withBoundPort } from './config.ts'

const BASE = { CACHE_ORIGIN_URL: 'https://registry.example.com' }

const problems = (env: Record<string, string>) => configProblems(() => loadConfig(env))

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

  it('has no control plane unless CACHE_CONTROL_PLANE_URL is set, and then reads the site fields', () => {
    expect(loadConfig(BASE).controlPlane).toBeUndefined()
    const c = loadConfig({
      ...BASE,
      CACHE_CONTROL_PLANE_URL: 'https://cp.example.com',
      CACHE_JOIN_TOKEN: 'wharf_join_j_0123456789abcdef_s3cr3t',
      CACHE_SITE_NAME: 'edge-ams-1',
      CACHE_SITE_REGION: 'eu-west',
      CACHE_SITE_LATITUDE: '52.37',
      CACHE_SITE_LONGITUDE: '-4.5',
      CACHE_SITE_NETWORKS: '10.0.0.0/8, 192.168.1.0/24 2001:db8::/32',
      CACHE_SITE_PARENT: 'core',
      CACHE_METRICS_FLUSH: '30s',
    })
    expect(c.controlPlane).toEqual({
      url: new URL('https://cp.example.com'),
      joinToken: 'wharf_join_j_0123456789abcdef_s3cr3t',
      site: {
        name: 'edge-ams-1',
        region: 'eu-west',
        latitude: 52.37,
        longitude: -4.5,
        networks: ['10.0.0.0/8', '192.168.1.0/24', '2001:db8::/32'],
        parent: 'core',
      },
      metricsFlushMs: 30_000,
    })
    const bare = loadConfig({ ...BASE, CACHE_CONTROL_PLANE_URL: 'http://127.0.0.1:5002' })
    expect(bare.controlPlane).toMatchObject({ joinToken: undefined, metricsFlushMs: undefined, site: { networks: [] } })
  })

  it('checks the site fields: names, coordinates, CIDRs, the token and the flush interval', () => {
    expect(
      problems({
        ...BASE,
        CACHE_CONTROL_PLANE_URL: 'ftp://cp.example.com',
        CACHE_JOIN_TOKEN: 'hunter2',
        CACHE_SITE_NAME: 'Edge_1',
        CACHE_SITE_PARENT: 'no way',
        CACHE_SITE_LATITUDE: '91',
        CACHE_SITE_LONGITUDE: 'east',
        CACHE_SITE_NETWORKS: '10.0.0.0/33,10.1.0.0/16,fe80::/129,10.2/16,example.com',
        CACHE_METRICS_FLUSH: '10ms',
      }),
    ).toEqual([
      'CACHE_CONTROL_PLANE_URL="ftp://cp.example.com" is not an http:// or https:// URL',
      'CACHE_JOIN_TOKEN is not a join token (wharf_join_<id>_<secret>, as `POST /api/v0/join-tokens` or `wharf join-token create` prints it)',
      'CACHE_SITE_NAME="Edge_1" must be 1 to 63 lowercase letters, digits and dashes, starting with a letter or digit',
      'CACHE_SITE_PARENT="no way" must be a site name (lowercase letters, digits and dashes)',
      'CACHE_SITE_LATITUDE="91" must be decimal degrees from -90 to 90',
      'CACHE_SITE_LONGITUDE="east" must be decimal degrees from -180 to 180',
      'CACHE_SITE_NETWORKS entry "10.0.0.0/33" is not a CIDR (e.g. 10.20.0.0/16 or 2001:db8::/32)',
      'CACHE_SITE_NETWORKS entry "fe80::/129" is not a CIDR (e.g. 10.20.0.0/16 or 2001:db8::/32)',
      'CACHE_SITE_NETWORKS entry "10.2/16" is not a CIDR (e.g. 10.20.0.0/16 or 2001:db8::/32)',
      'CACHE_SITE_NETWORKS entry "example.com" is not a CIDR (e.g. 10.20.0.0/16 or 2001:db8::/32)',
      'CACHE_METRICS_FLUSH must be at least 100ms',
    ])
    expect(problems({ ...BASE, CACHE_CONTROL_PLANE_URL: 'https://cp.example', CACHE_SITE_LATITUDE: '10' })).toEqual([
      'CACHE_SITE_LATITUDE and CACHE_SITE_LONGITUDE go together: set both (decimal degrees) or neither',
    ])
    expect(
      problems({
        ...BASE,
        CACHE_CONTROL_PLANE_URL: 'https://cp.example',
        CACHE_SITE_NAME: 'a',
        CACHE_SITE_PARENT: 'a',
      }),
    ).toEqual(['CACHE_SITE_PARENT cannot name the site itself'])
  })

  it('says the site settings need a control plane', () => {
    expect(problems({ ...BASE, CACHE_JOIN_TOKEN: 'wharf_join_a_b', CACHE_SITE_NAME: 'edge' })).toEqual([
      'CACHE_JOIN_TOKEN, CACHE_SITE_NAME only take effect with CACHE_CONTROL_PLANE_URL (the control plane this cache joins as a site)',
    ])
  })

  it('reads the scrub rate and interval (0 turns the scrub off) and refuses bad ones', () => {
    const c = loadConfig(BASE)
    expect(c.scrubBytesPerSecond).toBe(16 * 2 ** 20)
    expect(c.scrubIntervalMs).toBe(7 * 24 * 3_600_000)
    expect(c.verifyReads).toBe(true)
    expect(loadConfig({ ...BASE, CACHE_VERIFY_READS: 'false' }).verifyReads).toBe(false)
    expect(loadConfig({ ...BASE, CACHE_SCRUB_BYTES_PER_SECOND: '0' }).scrubBytesPerSecond).toBe(0)
    expect(problems({ ...BASE, CACHE_SCRUB_BYTES_PER_SECOND: 'fast', CACHE_SCRUB_INTERVAL: '10s' })).toEqual([
      'CACHE_SCRUB_BYTES_PER_SECOND="fast" is not a size (use e.g. 512MiB, 50GiB or 1TB)',
      'CACHE_SCRUB_INTERVAL must be at least 1m',
    ])
  })
})
