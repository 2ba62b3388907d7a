import { Hono } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { INTERNAL_ERROR_BODY, OciError } from '../../oci/errors.ts'
import type { AccessController } from '../http/access.ts'
import type { AppEnv } from '../http/env.ts'
import { setResponseHeader } from '../../lib/node-io.ts'
import type { BlobGrants } from '../services/blob-grants.ts'
import type { BlobRedirects } from '../services/blob-redirects.ts'
import type { RegistryService } from '../services/registry.ts'
import type { UploadService } from '../services/uploads.ts'
import { blobRoutes } from './v2-blobs.ts'
import { discoveryRoutes } from './v2-discovery.ts'
import { manifestRoutes } from './v2-manifests.ts'
import { uploadRoutes } from './v2-uploads.ts'

export interface V2Deps {
  registry: RegistryService
  uploads: UploadService
  access: AccessController
  /** Verifies the grants of redirected blob pulls and cache fills. */
  grants: BlobGrants
  /** Sends blob GETs to cache sites; absent without a control plane. */
  redirects?: BlobRedirects
}

/** The OCI distribution API, mounted at /v2. Every failure leaves as the spec's error JSON. */
export function v2Routes(deps: V2Deps) {
  const v2 = new Hono<AppEnv>()

  v2.use(async (c, next) => {
    setResponseHeader(c, 'Docker-Distribution-API-Version', 'registry/2.0')
    await next()
  })

  v2.onError((err, c) => {
    if (err instanceof OciError) {
      c.var.log?.[err.status >= 500 ? 'error' : 'debug']({ err, code: err.code }, 'registry error')
      return c.json(err.toBody(), err.status as ContentfulStatusCode, err.headers)
    }
    if (isClientGone(err)) {
      c.var.log?.info({ err }, 'client went away')
      const gone = new OciError('BLOB_UPLOAD_INVALID', 'the request body ended before it was complete')
      return c.json(gone.toBody(), 400)
    }
    c.var.log?.error({ err }, 'unhandled error')
    return c.json(INTERNAL_ERROR_BODY, 500)
  })

  v2.get('/', async (c) => {
    await deps.access.authorize(c.req.raw, [])
    return c.json({})
  })
  v2.route('/', discoveryRoutes(deps))
  v2.route('/', uploadRoutes(deps))
  v2.route('/', blobRoutes(deps))
  v2.route('/', manifestRoutes(deps))

  // route() does not carry notFound, so the fallthrough is a route of its own
  v2.all('*', () => {
    throw new OciError('UNSUPPORTED', 'unsupported endpoint or method', { status: 404 })
  })
  return v2
}

/** A request body that ended early: the client reset or aborted; nobody is left to read an answer. */
function isClientGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (err as Error)?.message === 'aborted'
}
