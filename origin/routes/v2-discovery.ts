import type { Context } from 'hono'
import { Hono } from 'hono'
import { OciError } from '../../oci/errors.ts'
import { assertName } from '../../oci/reference.ts'
import type { AppEnv } from '../http/env.ts'
import { REFERRERS_MEDIA_TYPE } from '../services/registry.ts'
import type { NamePage } from '../storage/metadata.ts'
import type { V2Deps } from './v2.ts'

/** Largest page of tags or repositories; a larger `n` gets this many and a Link to the rest. */
export const MAX_PAGE = 1000

/** Tags list, catalog and referrers. */
export function discoveryRoutes({ registry, access }: V2Deps) {
  const app = new Hono<AppEnv>()

  app.get('/_catalog', async (c) => {
    await access.authorize(c.req.raw, [{ type: 'registry', name: 'catalog', actions: ['*'] }])
    const { n, last } = paging(c)
    const page = registry.catalog(last, n)
    linkNext(c, '/v2/_catalog', n, page)
    return c.json({ repositories: page.names })
  })

  app.get('/:name{.+}/tags/list', async (c) => {
    const name = assertName(c.req.param('name'))
    await access.authorize(c.req.raw, [{ type: 'repository', name, actions: ['pull'] }])
    const { n, last } = paging(c)
    const page = registry.tags(name, last, n)
    linkNext(c, `/v2/${name}/tags/list`, n, page)
    return c.json({ name, tags: page.names })
  })

  app.get('/:name{.+}/referrers/:digest', async (c) => {
    const name = assertName(c.req.param('name'))
    await access.authorize(c.req.raw, [{ type: 'repository', name, actions: ['pull'] }])
    const artifactType = c.req.query('artifactType')
    const result = registry.referrers(name, c.req.param('digest'), artifactType || undefined)
    if (result.filtered) c.header('OCI-Filters-Applied', 'artifactType')
    const index = { schemaVersion: 2, mediaType: REFERRERS_MEDIA_TYPE, manifests: result.manifests }
    return c.body(JSON.stringify(index), 200, { 'Content-Type': REFERRERS_MEDIA_TYPE })
  })

  return app
}

function paging(c: Context): { n: number; last: string } {
  const raw = c.req.query('n')
  let n = MAX_PAGE
  if (raw !== undefined && raw !== '') {
    if (!/^\d+$/.test(raw))
      throw new OciError('UNSUPPORTED', `n must be a non-negative integer, got "${raw.slice(0, 20)}"`, { status: 400 })
    n = Math.min(Number(raw), MAX_PAGE)
  }
  return { n, last: c.req.query('last') ?? '' }
}

function linkNext(c: Context, path: string, n: number, page: NamePage): void {
  const lastName = page.names.at(-1)
  if (!page.more || lastName === undefined || n === 0) return
  const qs = new URLSearchParams({ n: String(n), last: lastName })
  c.header('Link', `<${path}?${qs}>; rel="next"`)
}
