import type { Context } from 'hono'
import { Hono } from 'hono'
import { OciError } from '../../oci/errors.ts'
import { parseContentRange } from '../../oci/range.ts'
import { assertName, isValidName } from '../../oci/reference.ts'
import { requestBody } from '../../lib/node-io.ts'
import { clientAddress } from '../http/client-address.ts'
import type { AppEnv } from '../http/env.ts'
import { rangeHeader, type ChunkInfo } from '../services/uploads.ts'
import type { V2Deps } from './v2.ts'

/** Blob uploads: monolithic, chunked, streamed, cross-repository mount, status and cancel. */
export function uploadRoutes({ uploads, registry, access }: V2Deps) {
  const app = new Hono<AppEnv>()

  const blobCreated = (c: Context, name: string, digest: string) =>
    c.body(null, 201, {
      Location: `/v2/${name}/blobs/${digest}`,
      'Docker-Content-Digest': digest,
      'Content-Length': '0',
    })

  const sessionHeaders = (name: string, id: string, offset: number) => ({
    Location: `/v2/${name}/blobs/uploads/${id}`,
    Range: rangeHeader(offset),
    'Docker-Upload-UUID': id,
    'Content-Length': '0',
  })

  const start = async (c: Context<AppEnv>) => {
    const name = assertName(c.req.param('name') ?? '')
    const who = await access.authorize(c.req.raw, [{ type: 'repository', name, actions: ['pull', 'push'] }])
    const caller = { actor: who.actor, address: clientAddress(c) }
    const mount = c.req.query('mount')
    const from = c.req.query('from')
    const digest = c.req.query('digest')
    if (mount !== undefined) {
      // a mount that cannot be done (unknown blob, no `from`, no read access to it) opens a session instead
      if (from !== undefined && isValidName(from)) {
        const readable = await access.allows(c.req.raw, { type: 'repository', name: from, actions: ['pull'] })
        const mounted = readable ? registry.mount(name, mount, from, caller) : undefined
        if (mounted) return blobCreated(c, name, mounted.digest)
      }
    } else if (digest !== undefined) {
      const blob = await uploads.putWhole(name, digest, requestBody(c), chunkInfo(c), caller)
      return blobCreated(c, name, blob.digest)
    }
    requestBody(c).resume()
    const row = await uploads.start(name, caller)
    return c.body(null, 202, sessionHeaders(name, row.id, 0))
  }
  app.post('/:name{.+}/blobs/uploads/', start)
  app.post('/:name{.+}/blobs/uploads', start)

  app.get('/:name{.+}/blobs/uploads/:id', async (c) => {
    const name = assertName(c.req.param('name'))
    await access.authorize(c.req.raw, [{ type: 'repository', name, actions: ['pull', 'push'] }])
    const row = uploads.status(name, c.req.param('id'))
    return c.body(null, 204, sessionHeaders(name, row.id, row.offset))
  })

  app.patch('/:name{.+}/blobs/uploads/:id', async (c) => {
    const name = assertName(c.req.param('name'))
    await access.authorize(c.req.raw, [{ type: 'repository', name, actions: ['pull', 'push'] }])
    const row = await uploads.append(name, c.req.param('id'), requestBody(c), chunkInfo(c))
    return c.body(null, 202, sessionHeaders(name, row.id, row.offset))
  })

  app.put('/:name{.+}/blobs/uploads/:id', async (c) => {
    const name = assertName(c.req.param('name'))
    const who = await access.authorize(c.req.raw, [{ type: 'repository', name, actions: ['pull', 'push'] }])
    const digest = c.req.query('digest')
    if (!digest) throw new OciError('DIGEST_INVALID', 'the digest query parameter is required to complete an upload')
    const body = hasBody(c) ? requestBody(c) : undefined
    const blob = await uploads.finish(name, c.req.param('id'), digest, body, chunkInfo(c), {
      actor: who.actor,
      address: clientAddress(c),
    })
    return blobCreated(c, name, blob.digest)
  })

  app.delete('/:name{.+}/blobs/uploads/:id', async (c) => {
    const name = assertName(c.req.param('name'))
    await access.authorize(c.req.raw, [{ type: 'repository', name, actions: ['pull', 'push'] }])
    await uploads.cancel(name, c.req.param('id'))
    return c.body(null, 204)
  })

  return app
}

function chunkInfo(c: Context): ChunkInfo {
  const info: ChunkInfo = {}
  const range = parseContentRange(c.req.header('content-range'))
  if (range === 'invalid') {
    throw new OciError(
      'BLOB_UPLOAD_INVALID',
      `Content-Range must be "<start>-<end>", got "${c.req.header('content-range')}"`,
      {
        status: 416,
      },
    )
  }
  if (range) info.range = range
  const length = c.req.header('content-length')
  if (length !== undefined && /^\d+$/.test(length)) info.length = Number(length)
  return info
}

function hasBody(c: Context): boolean {
  const length = c.req.header('content-length')
  return (length !== undefined && length !== '0') || c.req.header('transfer-encoding') !== undefined
}
