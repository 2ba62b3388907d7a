import { beforeEach, describe, expect, test } from 'vitest'
import { bundledGeoipDir } from '../config.ts'
import type { SiteRecord } from '../storage/sites-store.ts'
import { parseAddress } from './cidr.ts'
import { MmdbGeo } from './geo.ts'
import { SiteCreate } from '../schemas.ts'
import { PlacementService } from './placement.ts'
import { memoryServices } from './testing.ts'

// one database reader for the whole file: the files are large
const geo = new MmdbGeo(bundledGeoipDir())

function setup() {
  const m = memoryServices()
  const placement = new PlacementService({ sites: m.sites, assignments: m.assignments, networks: m.networks, geo })
  const site = (name: string, fields: Record<string, unknown> = {}, state: 'up' | 'down' | 'unknown' = 'up'): SiteRecord => {
    const s = m.sites.create(SiteCreate.parse({ name, url: `https://${name}.example.com`, ...fields }))
    if (state !== 'unknown') m.siteStore.setHealth(s.id, state, m.now())
    return s
  }
  const assign = (kind: 'user' | 'team' | 'org', subject: string, s: SiteRecord) =>
    m.assignments.put({ kind, subject, siteId: s.id }, m.now())
  const resolve = (req: Record<string, unknown>) => placement.resolve(PlacementService.parse(req))
  return { ...m, placement, site, assign, resolve }
}

// sites at real places
const LONDON = { latitude: 51.507, longitude: -0.128 }
const NEW_YORK = { latitude: 40.713, longitude: -74.006 }
const TOKYO = { latitude: 35.68, longitude: 139.77 }
const SYDNEY = { latitude: -33.87, longitude: 151.21 }
const SAN_FRANCISCO = { latitude: 37.77, longitude: -122.42 }

describe('assignment rules, first match wins', () => {
  let t: ReturnType<typeof setup>
  beforeEach(() => {
    t = setup()
  })

  test('user before team before org before network before geo before default', async () => {
    const byUser = t.site('by-user')
    const byTeam = t.site('by-team')
    const byOrg = t.site('by-org')
    const byNet = t.site('by-net', { networks: ['81.2.0.0/16'] })
    t.site('by-geo', LONDON)
    t.site('by-default', { isDefault: true })
    t.assign('user', 'alice', byUser)
    t.assign('team', 'acme/devs', byTeam)
    t.assign('org', 'acme', byOrg)
    const full = { user: 'alice', teams: ['acme/devs'], orgs: ['acme'], address: '81.2.69.142' }
    expect((await t.resolve(full)).rule).toBe('user')
    expect((await t.resolve({ ...full, user: 'bob' })).rule).toBe('team')
    expect((await t.resolve({ ...full, user: 'bob', teams: [] })).site?.name).toBe('by-org')
    const net = await t.resolve({ address: '81.2.69.142' })
    expect(net).toMatchObject({ rule: 'network', site: { name: 'by-net' } })
    t.siteStore.setHealth(byNet.id, 'down', t.now())
    expect(await t.resolve({ address: '81.2.69.142' })).toMatchObject({ rule: 'geo', site: { name: 'by-geo' } })
    expect(await t.resolve({})).toMatchObject({ rule: 'default', site: { name: 'by-default' } })
    expect(await t.resolve({ user: 'carol' })).toMatchObject({ rule: 'default' })
  })

  test('nothing up: the origin serves it', async () => {
    t.site('down', { isDefault: true }, 'down')
    t.site('never-seen', {}, 'unknown')
    const r = await t.resolve({ address: '8.8.8.8' })
    expect(r).toMatchObject({ site: null, rule: 'origin' })
  })

  test('an assignment to a site that is not up is passed over, and said so', async () => {
    const down = t.site('eu', {}, 'down')
    const other = t.site('us', { isDefault: true })
    t.assign('user', 'alice', down)
    const r = await t.resolve({ user: 'alice' })
    expect(r).toMatchObject({ rule: 'default', site: { id: other.id } })
    expect(r.detail).toContain('user alice → eu (down)')
  })

  test('teams are tried by name: the first whose site is up', async () => {
    const a = t.site('a', {}, 'down')
    const b = t.site('b')
    const c = t.site('c')
    t.assign('team', 'acme/alpha', a)
    t.assign('team', 'acme/bravo', b)
    t.assign('team', 'acme/charlie', c)
    expect(await t.resolve({ teams: ['acme/charlie', 'acme/bravo', 'acme/alpha'] })).toMatchObject({
      rule: 'team',
      site: { name: 'b' },
      detail: expect.stringContaining('team acme/bravo'),
    })
    t.assign('org', 'zeta', c)
    t.assign('org', 'acme', b)
    expect((await t.resolve({ orgs: ['zeta', 'acme'] })).site?.name).toBe('b')
  })
})

describe('network rule', () => {
  test('the longest prefix wins', async () => {
    const t = setup()
    t.site('wide', { networks: ['10.0.0.0/8'] })
    t.site('narrow', { networks: ['10.1.0.0/16'] })
    t.site('narrowest-down', { networks: ['10.1.2.0/24'] }, 'down')
    expect(await t.resolve({ address: '10.1.2.3' })).toMatchObject({ rule: 'network', site: { name: 'narrow' } })
    expect(await t.resolve({ address: '10.9.0.1' })).toMatchObject({ rule: 'network', site: { name: 'wide' } })
    const r = await t.resolve({ address: '10.1.2.3' })
    expect(r.detail).toBe('10.1.2.3 is in 10.1.0.0/16, a network of narrow')
  })

  test('IPv6 and IPv4-mapped IPv6 addresses', async () => {
    const t = setup()
    t.site('v4', { networks: ['192.0.2.0/24'] })
    t.site('v6', { networks: ['2001:db8::/32'] })
    expect((await t.resolve({ address: '::ffff:192.0.2.10' })).site?.name).toBe('v4')
    expect((await t.resolve({ address: '192.0.2.10' })).site?.name).toBe('v4')
    expect((await t.resolve({ address: '2001:db8:1::5' })).site?.name).toBe('v6')
    expect((await t.resolve({ address: '2001:db9::5' })).rule).toBe('origin')
  })

  test('a bad address is a 400', async () => {
    expect(() => PlacementService.parse({ address: 'not-an-ip' })).toThrow(/IPv4 or IPv6/)
    expect(parseAddress('::ffff:1.2.3.4')?.toString()).toBe('1.2.3.4')
  })
})

describe('geo rule, with the real offline database', () => {
  const world = () => {
    const t = setup()
    t.site('london', LONDON)
    t.site('new-york', NEW_YORK)
    t.site('tokyo', TOKYO)
    t.site('sydney', SYDNEY)
    t.site('san-francisco', SAN_FRANCISCO)
    t.site('no-location')
    return t
  }

  test.each([
    ['8.8.8.8', 'san-francisco', 'US'],
    ['81.2.69.142', 'london', 'London, GB'],
    ['133.242.0.3', 'tokyo', 'JP'],
    ['1.1.1.1', 'sydney', 'Sydney, AU'],
    ['2a00:1450:4009::1', 'london', 'London, GB'],
  ])('%s is nearest to %s', async (address, name, place) => {
    const r = await world().resolve({ address })
    expect(r.rule).toBe('geo')
    expect(r.site?.name).toBe(name)
    expect(r.detail).toMatch(/^nearest by location: \d+ km \(/)
    expect(r.detail).toContain(place)
  })

  test('the detail gives the distance and the place', async () => {
    const t = setup()
    t.site('paris', { latitude: 48.857, longitude: 2.352 })
    const r = await t.resolve({ address: '81.2.69.142' })
    const km = Number(/(\d+) km/.exec(r.detail)?.[1])
    expect(km).toBeGreaterThan(320)
    expect(km).toBeLessThan(360)
    expect(r.detail).toBe(`nearest by location: ${km} km (London, GB)`)
  })

  test('admin networks place private addresses; the most specific wins over the database', async () => {
    const t = world()
    t.networks.insert({ id: 'n_1', cidr: '10.0.0.0/8', latitude: SYDNEY.latitude, longitude: SYDNEY.longitude, label: 'datacenter' }, t.now())
    t.networks.insert({ id: 'n_2', cidr: '10.20.0.0/16', latitude: 35.0, longitude: 139.0, label: 'tokyo office' }, t.now())
    expect(await t.resolve({ address: '10.1.1.1' })).toMatchObject({ rule: 'geo', site: { name: 'sydney' } })
    const r = await t.resolve({ address: '10.20.3.4' })
    expect(r).toMatchObject({ rule: 'geo', site: { name: 'tokyo' } })
    expect(r.detail).toContain('(tokyo office)')
    // an admin network overrides the database for public addresses too
    t.networks.insert({ id: 'n_3', cidr: '8.8.8.0/24', latitude: LONDON.latitude, longitude: LONDON.longitude, label: null }, t.now())
    expect(await t.resolve({ address: '8.8.8.8' })).toMatchObject({ site: { name: 'london' }, detail: expect.stringContaining('(8.8.8.0/24)') })
  })

  test('an address nobody can place falls through to the default', async () => {
    const t = world()
    t.site('fallback', { isDefault: true })
    expect(await t.resolve({ address: '10.1.1.1' })).toMatchObject({ rule: 'default', site: { name: 'fallback' } })
  })

  test('the chain names the site and its parents', async () => {
    const t = setup()
    const root = t.site('root', {}, 'down')
    const leaf = t.site('leaf', { ...LONDON, parent: 'root' })
    expect((await t.resolve({ address: '81.2.69.142' })).site?.chain).toEqual([leaf.id, root.id])
  })
})
