import { Hono } from 'hono'
import { OciError } from '../../oci/errors.ts'
import { parseRangeHeader } from '../../oci/range.ts'
import { assertName } from '../../oci/reference.ts'
import { clientAddress, sendStream } from '../../lib/node-io.ts'
import type { AppEnv } from '../http/env.ts'
import type { V2Deps } from './v2.ts'

/** Blob reads (GET, HEAD with Range) and blob deletes. */
export function blobRoutes({ registry, access, events }: V2Deps) {
  const app = new Hono<AppEnv>()

  app.on(['GET', 'HEAD'], '/:name{.+}/blobs/:digest', async (c) => {
    const name = assertName(c.req.param('name'))
    await access.authorize(c.req.raw, [{ type: 'repository', name, actions: ['pull'] }])
    const info = registry.blob(name, c.req.param('digest'))
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
        { ...headers, 'Content-Length': String(end - start + 1), 'Content-Range': `bytes ${start}-${end}/${info.size}` },
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
    registry.deleteBlob(name, digest)
    events.record({ actor: who.actor, action: 'delete', targetType: 'blob', target: `${name}@${digest}`, address: clientAddress(c) })
    return c.body(null, 202, { 'Content-Length': '0' })
  })

  return app
}
