import { Hono } from 'hono'
import { OciError } from '../../oci/errors.ts'
import { parseRangeHeader } from '../../oci/range.ts'
import { assertName } from '../../oci/reference.ts'
import { sendStream } from '../../lib/node-io.ts'
import { clientAddress } from '../http/client-address.ts'
import type { AppEnv } from '../http/env.ts'
import type { V2Deps } from './v2.ts'

/** The header cache nodes send on fills: such a request is never redirected (a cache is never sent to a cache). */
export const FILL_HEADER = 'wharf-fill'

/**
 * Blob reads (GET, HEAD with Range) and blob deletes. A GET may be redirected to the caller's cache site with a
 * blob grant, or (ORIGIN_S3_REDIRECT) to a presigned URL of the bucket the blob is in; a request carrying a grant (`?grant=`, a redirected client's cache filling) needs no other
 * credential and is always served here (docs/network-protocol.md).
 */
export function blobRoutes({ registry, access, grants, redirects }: V2Deps) {
  const app = new Hono<AppEnv>()

  app.on(['GET', 'HEAD'], '/:name{.+}/blobs/:digest', async (c) => {
    const name = assertName(c.req.param('name'))
    const digest = c.req.param('digest')
    const grant = c.req.query('grant')
    let subject: string | undefined
    if (grant !== undefined) {
      const check = await grants.verify(grant, { repository: name, digest })
      if (!check.ok) throw new OciError(check.reason === 'mismatch' ? 'DENIED' : 'UNAUTHORIZED', check.message)
    } else {
      subject = (await access.authorize(c.req.raw, [{ type: 'repository', name, actions: ['pull'] }])).subject
    }
    // an unknown blob is answered here (404), never sent to a cache
    const info = registry.blob(name, digest)
    if (subject !== undefined && redirects && c.req.method === 'GET' && c.req.header(FILL_HEADER) === undefined) {
      const target = await redirects.target({ subject, repository: name, digest, address: clientAddress(c) })
      if (target) {
        c.set('redirect', target.site)
        return c.body(null, 307, { Location: target.location, 'Content-Length': '0', 'Cache-Control': 'no-store' })
      }
    }
    if (c.req.method === 'GET') {
      // blobs in object storage may be fetched from it directly: clients and cache fills alike follow the 307
      // (without their Authorization), and send their Range there
      const direct = await registry.blobRedirect(info)
      if (direct) {
        c.set('redirect', 'object-storage')
        return c.body(null, 307, { Location: direct, 'Content-Length': '0', 'Cache-Control': 'no-store' })
      }
    }
    const headers: Record<string, string> = {
      'Docker-Content-Digest': info.digest,
      'Content-Type': 'application/octet-stream',
      'Accept-Ranges': 'bytes',
      ETag: `"${info.digest}"`,
      // content addressed: the bytes behind a digest never change
      'Cache-Control': 'max-age=31536000, immutable',
    }
    if (c.req.method === 'HEAD') return c.body(null, 200, { ...headers, 'Content-Length': String(info.size) })
    const range = parseRangeHeader(c.req.header('range'), info.size)
    if (range.kind === 'unsatisfiable') {
      throw new OciError('SIZE_INVALID', `range ${c.req.header('range')} is outside the blob's ${info.size} bytes`, {
        status: 416,
        headers: { 'Content-Range': `bytes */${info.size}` },
      })
    }
    if (range.kind === 'range') {
      const { start, end } = range.range
      const stream = await registry.openBlob(info, range.range)
      return sendStream(
        c,
        206,
        {
          ...headers,
          'Content-Length': String(end - start + 1),
          'Content-Range': `bytes ${start}-${end}/${info.size}`,
        },
        stream,
      )
    }
    const stream = await registry.openBlob(info)
    return sendStream(c, 200, { ...headers, 'Content-Length': String(info.size) }, stream)
  })

  app.delete('/:name{.+}/blobs/:digest', async (c) => {
    const name = assertName(c.req.param('name'))
    const who = await access.authorize(c.req.raw, [{ type: 'repository', name, actions: ['delete'] }])
    const digest = c.req.param('digest')
    registry.deleteBlob(name, digest, { actor: who.actor, address: clientAddress(c) })
    return c.body(null, 202, { 'Content-Length': '0' })
  })

  return app
}
