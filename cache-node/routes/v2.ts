import type { Context } from 'hono'
import { Hono } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { parseDigest } from '../../oci/digest.ts'
import { INTERNAL_ERROR_BODY, OciError } from '../../oci/errors.ts'
import { parseRangeHeader } from '../../oci/range.ts'
import { assertName, parseReference } from '../../oci/reference.ts'
import type { CacheAccess } from '../auth/access.ts'
import { UpstreamError } from '../errors.ts'
import type { AppEnv } from '../http/env.ts'
import { sendStream, setResponseHeader, type SendStreamOptions } from '../../lib/node-io.ts'
import type { Metrics } from '../metrics.ts'
import type { BlobService } from '../services/blobs.ts'
import type { ListingService } from '../services/listings.ts'
import type { ManifestService } from '../services/manifests.ts'
import type { Router, Target } from '../upstream/router.ts'
import type { UpstreamAuth } from '../upstream/upstream.ts'

export interface V2Deps {
  access: CacheAccess
  router: Router
  blobs: BlobService
  manifests: ManifestService
  listings: ListingService
  metrics: Metrics
  /** Where pushes go: the origin's public URL. */
  originPublicUrl: () => string
}

/** RFC 9111's "response is stale" warning, on manifests served from the cache while the upstream is unreachable. */
const STALE_WARNING = '110 - "Response is stale"'

/** The read-only OCI distribution API, mounted at /v2. Every failure leaves as the spec's error JSON. */
export function v2Routes(deps: V2Deps) {
  const { access, router, blobs, manifests, listings } = deps
  const v2 = new Hono<AppEnv>()

  v2.use(async (c, next) => {
    setResponseHeader(c, 'Docker-Distribution-API-Version', 'registry/2.0')
    await next()
  })

  v2.onError((err, c) => {
    let e = err
    // the upstream refused a token we verified (revoked, or a parent with other keys): challenge like any 401
    const repository = c.var.served?.repository
    // a grant is not a token: a refused grant is answered as it is, with no challenge to fetch a token
    const grant = c.var.served?.grant === true
    if (e instanceof OciError && e.code === 'UNAUTHORIZED' && !e.headers['WWW-Authenticate'] && repository && !grant) {
      try {
        e = access.challenge(e.message, `repository:${repository}:pull`, 'invalid_token')
      } catch {
        // no identity to challenge with: answer the 401 as it is
      }
    }
    if (e instanceof OciError) {
      c.var.log?.[e.status >= 500 ? 'error' : 'debug']({ err: e, code: e.code }, 'registry error')
      return c.json(e.toBody(), e.status as ContentfulStatusCode, e.headers)
    }
    if (e instanceof UpstreamError) {
      deps.metrics.upstreamError(e.upstream, e.code)
      c.var.log?.warn({ err: e, code: e.code }, 'upstream error')
      return c.json(e.toBody(), e.status)
    }
    c.var.log?.error({ err: e }, 'unhandled error')
    return c.json(INTERNAL_ERROR_BODY, 500)
  })

  v2.get('/', async (c) => {
    await access.ping(c.req.raw)
    return c.json({})
  })

  v2.on(['GET', 'HEAD'], '/:name{.+}/blobs/:digest', async (c) => {
    const grant = c.req.query('grant')
    const { target, auth } = grant !== undefined ? await authorizeGrant(c, grant) : await authorize(c, 'blob')
    const digest = parseDigest(c.req.param('digest'))
    const handle = await blobs.open(target, auth, digest, c.req.method === 'HEAD')
    c.var.served.cache = handle.cache
    const headers: Record<string, string> = {
      'Docker-Content-Digest': digest.digest,
      'Content-Type': 'application/octet-stream',
      'Accept-Ranges': 'bytes',
      ETag: `"${digest.digest}"`,
      // content addressed: the bytes behind a digest never change
      'Cache-Control': 'max-age=31536000, immutable',
    }
    if (handle.size === undefined) {
      // streamed through without a length (see BlobHandle.size): a Range cannot be answered, so the whole blob is;
      // the chunked body ends only after the digest checked out, and is cut short if it did not
      return sendStream(c, 200, headers, handle.stream(), counted(c))
    }
    if (c.req.method === 'HEAD') return c.body(null, 200, { ...headers, 'Content-Length': String(handle.size) })
    const range = parseRangeHeader(c.req.header('range'), handle.size)
    if (range.kind === 'unsatisfiable') {
      handle.release()
      throw new OciError('SIZE_INVALID', `range ${c.req.header('range')} is outside the blob's ${handle.size} bytes`, {
        status: 416,
        headers: { 'Content-Range': `bytes */${handle.size}` },
      })
    }
    if (range.kind === 'range') {
      const { start, end } = range.range
      return sendStream(
        c,
        206,
        {
          ...headers,
          'Content-Length': String(end - start + 1),
          'Content-Range': `bytes ${start}-${end}/${handle.size}`,
        },
        handle.stream(range.range),
        counted(c),
      )
    }
    return sendStream(c, 200, { ...headers, 'Content-Length': String(handle.size) }, handle.stream(), counted(c))
  })

  v2.on(['GET', 'HEAD'], '/:name{.+}/manifests/:reference', async (c) => {
    const { target, auth } = await authorize(c, 'manifest')
    const m = await manifests.get(target, auth, parseReference(c.req.param('reference'), 'unknown'))
    c.var.served.cache = m.cache
    const etag = `"${m.digest}"`
    const headers: Record<string, string> = {
      // the stored type, whatever Accept says: every client we serve accepts the four modern types
      'Content-Type': m.mediaType,
      'Docker-Content-Digest': m.digest,
      'Content-Length': String(m.bytes.byteLength),
      ETag: etag,
    }
    if (m.cache === 'stale') headers.Warning = STALE_WARNING
    if (c.req.header('if-none-match') === etag) return c.body(null, 304, headers)
    if (c.req.method === 'HEAD') return c.body(null, 200, headers)
    c.var.served.bytes = m.bytes.byteLength
    return c.body(new Uint8Array(m.bytes), 200, headers)
  })

  v2.get('/:name{.+}/tags/list', async (c) => {
    const { target, auth } = await authorize(c, 'tags')
    return listing(c, await listings.get(target, auth, 'tags/list', new URL(c.req.url).searchParams))
  })

  v2.get('/:name{.+}/referrers/:digest', async (c) => {
    const { target, auth } = await authorize(c, 'referrers')
    const digest = parseDigest(c.req.param('digest'))
    return listing(c, await listings.get(target, auth, `referrers/${digest.digest}`, new URL(c.req.url).searchParams))
  })

  // route() does not carry notFound, so the fallthrough is a route of its own
  v2.all('*', (c) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') {
      throw new OciError(
        'UNSUPPORTED',
        'unsupported endpoint: this cache serves manifests, blobs, tags lists and referrers',
        { status: 404 },
      )
    }
    throw new OciError(
      'UNSUPPORTED',
      `this is a read-only cache: ${c.req.method} is not supported here; push to the origin at ${deps.originPublicUrl()}`,
      {
        headers: { Allow: 'GET, HEAD' },
      },
    )
  })

  /** Names the request's content for logs and metrics, picks its upstream and decides access. */
  async function authorize(
    c: Context<AppEnv>,
    kind: 'blob' | 'manifest' | 'tags' | 'referrers',
  ): Promise<{ target: Target; auth: UpstreamAuth }> {
    const name = assertName(c.req.param('name') ?? '')
    const served = c.var.served
    served.kind = kind
    served.repository = name
    const target = router.resolve(name, c.req.query('ns'))
    served.upstream = target.upstream.name
    return { target, auth: await access.pull(c.req.raw, target) }
  }

  /** A blob request redirected here by the origin: the grant in its URL is its only credential. */
  async function authorizeGrant(c: Context<AppEnv>, grant: string): Promise<{ target: Target; auth: UpstreamAuth }> {
    const name = assertName(c.req.param('name') ?? '')
    const served = c.var.served
    served.kind = 'blob'
    served.repository = name
    served.grant = true
    const digest = parseDigest(c.req.param('digest') ?? '')
    const target = router.resolve(name, c.req.query('ns'))
    served.upstream = target.upstream.name
    try {
      const auth = await access.grant(grant, target, digest.digest)
      deps.metrics.grant('accepted')
      return { target, auth }
    } catch (err) {
      deps.metrics.grant('refused')
      c.var.log.info({ err }, 'blob grant refused')
      throw err
    }
  }

  function listing(c: Context<AppEnv>, l: Awaited<ReturnType<ListingService['get']>>) {
    c.var.served.cache = l.cache
    c.var.served.bytes = l.body.byteLength
    const headers: Record<string, string> = { 'Content-Type': l.contentType }
    if (l.link) headers.Link = l.link
    if (l.filtersApplied) headers['OCI-Filters-Applied'] = l.filtersApplied
    if (l.cache === 'stale') headers.Warning = STALE_WARNING
    return c.body(new Uint8Array(l.body), 200, headers)
  }

  return v2
}

/** Counts a streamed body into the request's record (log line and metrics), and logs a response cut short. */
function counted(c: Context<AppEnv>): SendStreamOptions {
  const served = c.var.served
  return {
    onChunk: (bytes) => {
      served.bytes += bytes
    },
    onCutShort: (err) => c.var.log.warn({ err }, 'response cut short'),
  }
}
