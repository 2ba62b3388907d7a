import { describe, expect, test } from 'vitest'
import { ZodError } from 'zod'
import { ApiError } from '../../lib/api-error.ts'
import { SiteCreate, SitePatch } from '../schemas.ts'
import { memoryServices } from './testing.ts'

/** The status and code a call fails with; a body the route's schema refuses is the 400 the route answers. */
function code(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    if (err instanceof ApiError) return `${err.status} ${err.code}`
    if (err instanceof ZodError) return '400 BAD_REQUEST'
    throw err
  }
  return undefined
}

/** The sites service behind the routes' schemas, as requests reach it. */
function sitesOf(m: ReturnType<typeof memoryServices>) {
  return {
    ...m.sites,
    create: (body: unknown) => m.sites.create(SiteCreate.parse(body)),
    update: (ref: string, body: unknown) => m.sites.update(ref, SitePatch.parse(body)),
    chain: m.sites.chain.bind(m.sites),
    view: m.sites.view.bind(m.sites),
    list: m.sites.list.bind(m.sites),
  }
}

describe('sites', () => {
  test('the parent chain runs from the site up to the origin', () => {
    const sites = sitesOf(memoryServices())
    const root = sites.create({ name: 'root', url: 'https://root.example.com' })
    const mid = sites.create({ name: 'mid', url: 'https://mid.example.com', parent: 'root' })
    const leaf = sites.create({ name: 'leaf', url: 'https://leaf.example.com', parent: mid.id })
    expect(sites.chain(leaf)).toEqual([leaf.id, mid.id, root.id])
    expect(sites.view(leaf).parent).toBe('mid')
  })

  test('a parent that would make a loop is refused with 400', () => {
    const sites = sitesOf(memoryServices())
    sites.create({ name: 'a', url: 'https://a.example.com' })
    sites.create({ name: 'b', url: 'https://b.example.com', parent: 'a' })
    sites.create({ name: 'c', url: 'https://c.example.com', parent: 'b' })
    expect(code(() => sites.update('a', { parent: 'c' }))).toBe('400 BAD_REQUEST')
    expect(code(() => sites.update('a', { parent: 'b' }))).toBe('400 BAD_REQUEST')
    expect(code(() => sites.update('a', { parent: 'a' }))).toBe('400 BAD_REQUEST')
    expect(code(() => sites.update('a', { parent: 'nope' }))).toBe('400 BAD_REQUEST')
    // re-parenting without a loop is fine
    expect(sites.view(sites.update('c', { parent: 'a' })).parent).toBe('a')
    expect(sites.view(sites.update('c', { parent: null })).parent).toBeNull()
  })

  test('fields are checked and normalized', () => {
    const sites = sitesOf(memoryServices())
    const s = sites.create({ name: 'eu', url: 'https://cache-eu.example.com/', networks: ['10.1.2.3/16', '2001:db8::1/32'] })
    expect(s.url).toBe('https://cache-eu.example.com')
    expect(s.networks).toEqual(['10.1.0.0/16', '2001:db8::/32'])
    expect(code(() => sites.create({ name: 'Bad_Name', url: 'https://x.example.com' }))).toBe('400 BAD_REQUEST')
    expect(code(() => sites.create({ name: 'eu', url: 'https://x.example.com' }))).toBe('409 SITE_EXISTS')
    expect(code(() => sites.create({ name: 'x', url: 'https://x.example.com/path' }))).toBe('400 BAD_REQUEST')
    expect(code(() => sites.create({ name: 'x', url: 'ftp://x.example.com' }))).toBe('400 BAD_REQUEST')
    expect(code(() => sites.create({ name: 'x', url: 'https://x.example.com', latitude: 10 }))).toBe('400 BAD_REQUEST')
    expect(code(() => sites.create({ name: 'x', url: 'https://x.example.com', networks: ['10.0.0.0/33'] }))).toBe('400 BAD_REQUEST')
    expect(code(() => sites.create({ name: 'x', url: 'https://x.example.com', colour: 'red' }))).toBe('400 BAD_REQUEST')
  })

  test('only one site is the default', () => {
    const sites = sitesOf(memoryServices())
    sites.create({ name: 'a', url: 'https://a.example.com', isDefault: true })
    sites.create({ name: 'b', url: 'https://b.example.com', isDefault: true })
    expect(sites.list().filter((s) => s.isDefault).map((s) => s.name)).toEqual(['b'])
    sites.update('a', { isDefault: true })
    expect(sites.list().filter((s) => s.isDefault).map((s) => s.name)).toEqual(['a'])
  })
})
