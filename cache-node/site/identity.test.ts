import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadSiteIdentity, saveSiteIdentity, type SiteIdentity } from './identity.ts'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-site-id-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

const ID: SiteIdentity = {
  siteId: 's_0123456789abcdef',
  siteName: 'edge-1',
  credential: 'wharf_site_s_0123456789abcdef_secret',
  controlPlaneUrl: 'https://cp.example/',
}

describe('site identity', () => {
  it('is written atomically, readable by the owner only, and read back for the same control plane', async () => {
    expect(await loadSiteIdentity(dir, ID.controlPlaneUrl)).toBeUndefined()
    await saveSiteIdentity(dir, ID)
    expect((await stat(join(dir, 'site.json'))).mode & 0o777).toBe(0o600)
    expect(await readdir(dir)).toEqual(['site.json'])
    expect(await loadSiteIdentity(dir, ID.controlPlaneUrl)).toEqual({ identity: ID })
    await saveSiteIdentity(dir, { ...ID, siteName: 'edge-2' })
    expect(await loadSiteIdentity(dir, ID.controlPlaneUrl)).toEqual({ identity: { ...ID, siteName: 'edge-2' } })
  })

  it('tells an identity for another control plane apart, and refuses a damaged file', async () => {
    await saveSiteIdentity(dir, ID)
    expect(await loadSiteIdentity(dir, 'https://other.example/')).toEqual({ other: 'https://cp.example/' })
    await writeFile(join(dir, 'site.json'), '{"siteId": "x"')
    await expect(loadSiteIdentity(dir, ID.controlPlaneUrl)).rejects.toThrow(/not valid JSON; remove it/)
    await writeFile(
      join(dir, 'site.json'),
      '{"siteId": "../x", "siteName": "a", "credential": "c", "controlPlaneUrl": "u"}',
    )
    await expect(loadSiteIdentity(dir, ID.controlPlaneUrl)).rejects.toThrow(/does not hold/)
  })
})
