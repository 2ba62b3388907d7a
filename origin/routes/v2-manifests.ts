import { Hono } from 'hono'
import { OciError } from '../../oci/errors.ts'
import { MAX_MANIFEST_BYTES } from '../../oci/manifest.ts'
import { assertName, isValidTag } from '../../oci/reference.ts'
import { readLimited, requestBody } from '../../lib/node-io.ts'
import { clientAddress } from '../http/client-address.ts'
import type { AppEnv } from '../http/env.ts'
import type { V2Deps } from './v2.ts'

/** Manifests by tag or digest: GET, HEAD, PUT, DELETE. */
export function manifestRoutes({ registry, access, events }: V2Deps) {
  const app = new Hono<AppEnv>()

  app.on(['GET', 'HEAD'], '/:name{.+}/manifests/:reference', async (c) => {
    const name = assertName(c.req.param('name'))
    const who = await access.authorize(c.req.raw, [{ type: 'repository', name, actions: ['pull'] }])
    const reference = c.req.param('reference')
    const m = registry.manifest(name, reference)
    const etag = `"${m.digest}"`
    const headers = {
      // the stored type, whatever Accept says: every client we serve accepts the four modern types
      'Content-Type': m.mediaType,
      'Docker-Content-Digest': m.digest,
      'Content-Length': String(m.size),
      ETag: etag,
    }
    if (c.req.method === 'HEAD') return c.body(null, c.req.header('if-none-match') === etag ? 304 : 200, headers)
    // a conditional GET answered 304 is still a pull: the client resolved the reference through us
    events.record({
      actor: who.actor,
      action: 'pull',
      targetType: 'manifest',
      target: target(name, reference),
      address: clientAddress(c),
      detail: { digest: m.digest, mediaType: m.mediaType },
    })
    if (c.req.header('if-none-match') === etag) return c.body(null, 304, headers)
    return c.body(new Uint8Array(m.body), 200, headers)
  })

  app.put('/:name{.+}/manifests/:reference', async (c) => {
    const name = assertName(c.req.param('name'))
    const who = await access.authorize(c.req.raw, [{ type: 'repository', name, actions: ['pull', 'push'] }])
    const body = await readLimited(
      requestBody(c),
      MAX_MANIFEST_BYTES,
      () => new OciError('SIZE_INVALID', `manifest exceeds ${MAX_MANIFEST_BYTES} bytes`, { status: 413 }),
    )
    const reference = c.req.param('reference')
    const result = registry.putManifest(
      name,
      reference,
      body,
      c.req.header('content-type'),
      c.req.queries('tag') ?? [],
      who.actor.name,
    )
    const headers = new Headers({
      Location: `/v2/${name}/manifests/${result.digest}`,
      'Docker-Content-Digest': result.digest,
      'Content-Length': '0',
    })
    events.record({
      actor: who.actor,
      action: 'push',
      targetType: 'manifest',
      target: target(name, reference),
      address: clientAddress(c),
      detail: { digest: result.digest, mediaType: c.req.header('content-type') ?? null, tags: result.tags },
    })
    if (result.subject) headers.set('OCI-Subject', result.subject)
    if (c.req.queries('tag')) for (const t of result.tags) headers.append('OCI-Tag', t)
    return c.body(null, { status: 201, headers })
  })

  app.delete('/:name{.+}/manifests/:reference', async (c) => {
    const name = assertName(c.req.param('name'))
    const who = await access.authorize(c.req.raw, [{ type: 'repository', name, actions: ['delete'] }])
    const reference = c.req.param('reference')
    registry.deleteManifest(name, reference)
    events.record({
      actor: who.actor,
      action: 'delete',
      targetType: 'manifest',
      target: target(name, reference),
      address: clientAddress(c),
    })
    return c.body(null, 202, { 'Content-Length': '0' })
  })

  return app
}

/** `repo:tag` or `repo@digest`, as image references write them. */
function target(name: string, reference: string): string {
  return isValidTag(reference) ? `${name}:${reference}` : `${name}@${reference}`
}
