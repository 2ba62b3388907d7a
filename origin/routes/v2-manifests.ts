import { Hono, type Context } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { OciError } from '../../oci/errors.ts'
import { MAX_MANIFEST_BYTES } from '../../oci/manifest.ts'
import { assertName } from '../../oci/reference.ts'
import { clientAddress } from '../http/client-address.ts'
import type { AppEnv } from '../http/env.ts'
import type { V2Deps } from './v2.ts'

/** Manifests by tag or digest: GET, HEAD, PUT, DELETE. */
export function manifestRoutes({ registry, access }: V2Deps) {
  const app = new Hono<AppEnv>()

  app.on(['GET', 'HEAD'], '/:name{.+}/manifests/:reference', async (c) => {
    const name = assertName(c.req.param('name'))
    const who = await access.authorize(c.req.raw, [{ type: 'repository', name, actions: ['pull'] }])
    const reference = c.req.param('reference')
    const m =
      c.req.method === 'HEAD'
        ? registry.manifest(name, reference)
        : registry.pullManifest(name, reference, { actor: who.actor, address: clientAddress(c) })
    const etag = `"${m.digest}"`
    const headers = {
      // the stored type, whatever Accept says: every client we serve accepts the four modern types
      'Content-Type': m.mediaType,
      'Docker-Content-Digest': m.digest,
      'Content-Length': String(m.size),
      ETag: etag,
    }
    if (c.req.method === 'HEAD') return c.body(null, c.req.header('if-none-match') === etag ? 304 : 200, headers)
    if (c.req.header('if-none-match') === etag) return c.body(null, 304, headers)
    return c.body(new Uint8Array(m.body), 200, headers)
  })

  app.put('/:name{.+}/manifests/:reference', async (c) => {
    const name = assertName(c.req.param('name'))
    const who = await access.authorize(c.req.raw, [{ type: 'repository', name, actions: ['pull', 'push'] }])
    const body = await manifestBody(c)
    const reference = c.req.param('reference')
    const result = registry.putManifest(
      name,
      reference,
      body,
      c.req.header('content-type'),
      c.req.queries('tag') ?? [],
      { actor: who.actor, address: clientAddress(c) },
    )
    const headers = new Headers({
      Location: `/v2/${name}/manifests/${result.digest}`,
      'Docker-Content-Digest': result.digest,
      'Content-Length': '0',
    })
    if (result.subject) headers.set('OCI-Subject', result.subject)
    if (c.req.queries('tag')) for (const t of result.tags) headers.append('OCI-Tag', t)
    return c.body(null, { status: 201, headers })
  })

  app.delete('/:name{.+}/manifests/:reference', async (c) => {
    const name = assertName(c.req.param('name'))
    const who = await access.authorize(c.req.raw, [{ type: 'repository', name, actions: ['delete'] }])
    const reference = c.req.param('reference')
    registry.deleteManifest(name, reference, { actor: who.actor, address: clientAddress(c) })
    return c.body(null, 202, { 'Content-Length': '0' })
  })

  return app
}

// bounds the body as it streams (a chunked body has no length to check up front); the rest of it is not read, so
// the connection cannot carry another request
const limit = bodyLimit({
  maxSize: MAX_MANIFEST_BYTES,
  onError: () => {
    throw new OciError('SIZE_INVALID', `manifest exceeds ${MAX_MANIFEST_BYTES} bytes`, {
      status: 413,
      headers: { Connection: 'close' },
    })
  },
})

/** A manifest PUT's bytes, at most MAX_MANIFEST_BYTES (past it, a 413 SIZE_INVALID). */
async function manifestBody(c: Context): Promise<Buffer> {
  await limit(c, async () => undefined)
  return Buffer.from(await c.req.arrayBuffer())
}
