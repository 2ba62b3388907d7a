/**
 * State that must survive an origin restart on the same data folder: an upload session in progress (POST + a
 * PATCH chunk) continues after the restart at the right offset and completes; blobs, manifests, tags and
 * referrers stay. The in-process origin is closed and started again with `startOrigin({ dataDir })`; one test
 * kills a child-process origin with SIGKILL instead, to show an acknowledged chunk outlives a crash too.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { chunked, closeHttp, http, rebaseUrl, type HttpResult } from '../helpers/registry-http.ts'
import {
  MT,
  content,
  descriptor,
  digestOf,
  expectOciError,
  imageManifest,
  imageIndex,
  json,
  manifestDescriptor,
  pushBlob,
  pushImage,
  pushManifest,
  randomBlob,
  repoName,
  v2url,
} from '../helpers/oci-fixtures.ts'
import { spawnOrigin, startOrigin } from '../helpers/start-origin.ts'

type Origin = Awaited<ReturnType<typeof startOrigin>>

let dataDir: string
let running: { url: string; close(): Promise<void> }[] = []

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'wharf-restart-'))
  running = []
})

afterEach(async () => {
  for (const o of running) {
    await closeHttp(o.url)
    await o.close().catch(() => undefined)
  }
  await rm(dataDir, { recursive: true, force: true })
})

async function start(): Promise<Origin> {
  const o = await startOrigin({ dataDir })
  running.push(o)
  return o
}

async function restart(o: Origin): Promise<Origin> {
  await closeHttp(o.url)
  await o.close()
  running = running.filter((r) => r !== o)
  return start()
}

function patchChunk(base: string, location: string, data: Buffer, start: number): Promise<HttpResult> {
  return http('PATCH', rebaseUrl(base, location), {
    headers: {
      'content-type': MT.octetStream,
      'content-length': String(data.length),
      'content-range': `${start}-${start + data.length - 1}`,
    },
    body: data,
  })
}

describe('an upload session survives a restart', () => {
  it('POST + one PATCH, restart, GET says 0-<n-1>, the next chunk continues at the right offset, PUT completes', async () => {
    const repo = repoName('restart-upload')
    const blob = randomBlob(300_000)
    const cut = 123_457
    let o = await start()
    const post = await http('POST', v2url(o.url, `${repo}/blobs/uploads/`))
    expect(post.status).toBe(202)
    const first = await patchChunk(o.url, post.headers.location!, blob.bytes.subarray(0, cut), 0)
    expect(first.status).toBe(202)
    expect(first.headers.range).toBe(`0-${cut - 1}`)
    const location = first.headers.location!

    o = await restart(o)

    const status = await http('GET', rebaseUrl(o.url, location))
    expect(status.status).toBe(204)
    expect(status.headers.range).toBe(`0-${cut - 1}`)
    // a chunk at the wrong offset is still refused after the restart
    const wrong = await patchChunk(o.url, location, blob.bytes.subarray(cut + 1), cut + 1)
    expect(wrong.status).toBe(416)
    expect(wrong.headers.range).toBe(`0-${cut - 1}`)

    const second = await patchChunk(o.url, location, blob.bytes.subarray(cut), cut)
    expect(second.status).toBe(202)
    expect(second.headers.range).toBe(`0-${blob.size - 1}`)
    const put = await http('PUT', rebaseUrl(o.url, `${new URL(second.headers.location!, o.url).pathname}?digest=${blob.digest}`))
    expect(put.status).toBe(201)
    expect(put.headers['docker-content-digest']).toBe(blob.digest)
    const get = await http('GET', v2url(o.url, `${repo}/blobs/${blob.digest}`))
    expect(get.status).toBe(200)
    expect(get.body.equals(blob.bytes)).toBe(true)
  })

  it('a streamed PATCH after the restart appends at the offset; the final digest covers both halves (sha512 too)', async () => {
    const repo = repoName('restart-stream')
    const blobs = [randomBlob(70_000), randomBlob(70_000, 'sha512')]
    let o = await start()
    const locations: string[] = []
    for (const blob of blobs) {
      const post = await http('POST', v2url(o.url, `${repo}/blobs/uploads/`))
      const p = await http('PATCH', rebaseUrl(o.url, post.headers.location!), { body: chunked(blob.bytes.subarray(0, 30_000), 4096) })
      expect(p.status).toBe(202)
      expect(p.headers.range).toBe('0-29999')
      locations.push(p.headers.location!)
    }
    o = await restart(o)
    for (const [i, blob] of blobs.entries()) {
      const p = await http('PATCH', rebaseUrl(o.url, locations[i]!), { body: chunked(blob.bytes.subarray(30_000), 4096) })
      expect(p.status).toBe(202)
      expect(p.headers.range).toBe(`0-${blob.size - 1}`)
      const url = new URL(rebaseUrl(o.url, p.headers.location!))
      url.searchParams.set('digest', blob.digest)
      const put = await http('PUT', url.toString())
      expect(put.status).toBe(201)
      expect((await http('GET', v2url(o.url, `${repo}/blobs/${blob.digest}`))).body.equals(blob.bytes)).toBe(true)
    }
  })

  it('a wrong digest after the restart is still caught (the blob is hashed again, not trusted)', async () => {
    const repo = repoName('restart-bad')
    const blob = randomBlob(10_000)
    let o = await start()
    const post = await http('POST', v2url(o.url, `${repo}/blobs/uploads/`))
    expect((await patchChunk(o.url, post.headers.location!, blob.bytes.subarray(0, 5000), 0)).status).toBe(202)
    o = await restart(o)
    expect((await patchChunk(o.url, post.headers.location!, Buffer.alloc(5000, 1), 5000)).status).toBe(202)
    const url = new URL(rebaseUrl(o.url, post.headers.location!))
    url.searchParams.set('digest', blob.digest)
    expectOciError(await http('PUT', url.toString()), 400, 'DIGEST_INVALID')
    expectOciError(await http('GET', v2url(o.url, `${repo}/blobs/${blob.digest}`)), 404, 'BLOB_UNKNOWN')
  })

  it('a cancelled session stays cancelled, and a completed one stays completed, across a restart', async () => {
    const repo = repoName('restart-cancel')
    let o = await start()
    const a = await http('POST', v2url(o.url, `${repo}/blobs/uploads/`))
    expect((await http('DELETE', rebaseUrl(o.url, a.headers.location!))).status).toBe(204)
    const blob = randomBlob(100)
    const b = await http('POST', v2url(o.url, `${repo}/blobs/uploads/`))
    const url = new URL(rebaseUrl(o.url, b.headers.location!))
    url.searchParams.set('digest', blob.digest)
    expect((await http('PUT', url.toString(), { body: blob.bytes })).status).toBe(201)
    o = await restart(o)
    expectOciError(await http('GET', rebaseUrl(o.url, a.headers.location!)), 404, 'BLOB_UPLOAD_UNKNOWN')
    expectOciError(await http('GET', rebaseUrl(o.url, b.headers.location!)), 404, 'BLOB_UPLOAD_UNKNOWN')
    expect((await http('GET', v2url(o.url, `${repo}/blobs/${blob.digest}`))).body.equals(blob.bytes)).toBe(true)
  })

  it('an acknowledged chunk survives SIGKILL of a child-process origin', async () => {
    const repo = repoName('restart-kill')
    const blob = randomBlob(200_000)
    const first = await spawnOrigin({ dataDir })
    running.push(first)
    const post = await http('POST', v2url(first.url, `${repo}/blobs/uploads/`))
    const p = await patchChunk(first.url, post.headers.location!, blob.bytes.subarray(0, 100_000), 0)
    expect(p.status).toBe(202)
    expect(p.headers.range).toBe('0-99999')
    await first.kill('SIGKILL')
    await closeHttp(first.url)

    const second = await spawnOrigin({ dataDir })
    running.push(second)
    const status = await http('GET', rebaseUrl(second.url, p.headers.location!))
    expect(status.status).toBe(204)
    expect(status.headers.range).toBe('0-99999')
    expect((await patchChunk(second.url, p.headers.location!, blob.bytes.subarray(100_000), 100_000)).status).toBe(202)
    const url = new URL(rebaseUrl(second.url, p.headers.location!))
    url.searchParams.set('digest', blob.digest)
    expect((await http('PUT', url.toString())).status).toBe(201)
    expect((await http('GET', v2url(second.url, `${repo}/blobs/${blob.digest}`))).body.equals(blob.bytes)).toBe(true)
  })

  it('a monolithic POST ?digest= cut off by SIGKILL leaves nothing: no blob, no temporary file; a retry succeeds', async () => {
    const repo = repoName('restart-monolithic')
    const blob = randomBlob(4 * 1024 * 1024)
    const first = await spawnOrigin({ dataDir })
    running.push(first)
    const body = new PassThrough()
    const url = `${v2url(first.url, `${repo}/blobs/uploads/`)}?digest=${blob.digest}`
    const cut = http('POST', url, { headers: { 'content-type': MT.octetStream }, body }).catch((err: unknown) => err)
    body.write(blob.bytes.subarray(0, 1024 * 1024))
    // the origin has begun its temporary file: the blob is being written when the process dies
    while ((await readdir(join(dataDir, 'uploads')).catch(() => [])).length === 0) await sleep(10)
    await first.kill('SIGKILL')
    body.destroy()
    await cut
    await closeHttp(first.url)

    const second = await spawnOrigin({ dataDir })
    running.push(second)
    expect(await readdir(join(dataDir, 'uploads'))).toEqual([])
    expect((await http('HEAD', v2url(second.url, `${repo}/blobs/${blob.digest}`))).status).toBe(404)
    const retry = `${v2url(second.url, `${repo}/blobs/uploads/`)}?digest=${blob.digest}`
    const posted = await http('POST', retry, { headers: { 'content-type': MT.octetStream }, body: blob.bytes })
    expect(posted.status).toBe(201)
    expect((await http('GET', v2url(second.url, `${repo}/blobs/${blob.digest}`))).body.equals(blob.bytes)).toBe(true)
  })
})

describe('content survives a restart', () => {
  it('blobs, manifests (exact bytes and type), tags, referrers and deletions are all still there', async () => {
    const repo = repoName('restart-content')
    let o = await start()
    const img = await pushImage(o.url, repo, { ref: 'v1' })
    await pushManifest(o.url, repo, 'latest', img.manifest)
    const sha512 = await pushImage(o.url, repo, { algorithm: 'sha512' })
    const idx = imageIndex({ manifests: [manifestDescriptor(img.manifest, { platform: { os: 'linux', architecture: 'amd64' } })] })
    await pushManifest(o.url, repo, 'multi', idx)
    const empty = content('{}')
    await pushBlob(o.url, repo, empty)
    const referrer = imageManifest({
      artifactType: 'application/vnd.example.sig',
      config: descriptor(empty, MT.ociEmpty),
      layers: [descriptor(empty, MT.ociEmpty)],
      subject: manifestDescriptor(img.manifest),
      annotations: { note: 'kept' },
    })
    await pushManifest(o.url, repo, referrer.digest, referrer)
    const gone = await pushImage(o.url, repo, { ref: 'gone' })
    expect((await http('DELETE', v2url(o.url, `${repo}/manifests/${gone.manifest.digest}`))).status).toBe(202)
    expect((await http('DELETE', v2url(o.url, `${repo}/blobs/${gone.config.digest}`))).status).toBe(202)

    o = await restart(o)

    for (const blob of [img.config, ...img.layers, sha512.config, empty]) {
      const head = await http('HEAD', v2url(o.url, `${repo}/blobs/${blob.digest}`))
      expect(head.status).toBe(200)
      expect(head.headers['content-length']).toBe(String(blob.size))
      expect(head.headers['docker-content-digest']).toBe(blob.digest)
      expect((await http('GET', v2url(o.url, `${repo}/blobs/${blob.digest}`))).body.equals(blob.bytes)).toBe(true)
    }
    for (const [ref, m] of [
      ['v1', img.manifest],
      ['latest', img.manifest],
      ['multi', idx],
      [img.manifest.digest, img.manifest],
      [sha512.manifest.digest, sha512.manifest],
      [referrer.digest, referrer],
    ] as const) {
      const get = await http('GET', v2url(o.url, `${repo}/manifests/${ref}`))
      expect(get.status).toBe(200)
      expect(get.body.equals(m.bytes)).toBe(true)
      expect(get.headers['content-type']).toBe(m.mediaType)
      expect(get.headers['docker-content-digest']).toBe(m.digest)
    }
    expect(json(await http('GET', v2url(o.url, `${repo}/tags/list`)))).toEqual({ name: repo, tags: ['latest', 'multi', 'v1'] })
    const refs = json<{ manifests: { digest: string; annotations?: Record<string, string> }[] }>(
      await http('GET', v2url(o.url, `${repo}/referrers/${img.manifest.digest}`)),
    )
    expect(refs.manifests.map((d) => [d.digest, d.annotations])).toEqual([[referrer.digest, { note: 'kept' }]])
    // what was deleted before the restart stays deleted
    expect((await http('HEAD', v2url(o.url, `${repo}/manifests/gone`))).status).toBe(404)
    expect((await http('HEAD', v2url(o.url, `${repo}/manifests/${gone.manifest.digest}`))).status).toBe(404)
    expect((await http('HEAD', v2url(o.url, `${repo}/blobs/${gone.config.digest}`))).status).toBe(404)
    // and the restarted origin takes new pushes that reference the old content
    const again = imageManifest({ config: descriptor(img.config, MT.ociConfig), annotations: { after: 'restart' } })
    expect((await pushManifest(o.url, repo, 'after', again)).status).toBe(201)
    expect(digestOf((await http('GET', v2url(o.url, `${repo}/manifests/after`))).body)).toBe(again.digest)
  })
})
