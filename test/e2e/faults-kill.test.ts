/**
 * Faults during blob uploads: the origin SIGKILLed mid-upload (child process, restarted on the same data
 * dir), and a client that disconnects mid-PATCH (in-process origin). In both cases no partial blob may be
 * served, and a fresh upload of the same content must then succeed and be served with the right digest.
 *
 *   WHARF_E2E_REFERENCE=1     also run against the CNCF distribution registry (docker-registry)
 *   WHARF_E2E_REFERENCE=only  run only against the reference registry (to check the tests themselves)
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { request as httpRequest, type ClientRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { sha256 } from '../helpers/clients.ts'
import { referenceRegistryAvailable, startReferenceRegistry } from '../helpers/reference-registry.ts'
import {
  closeHttp,
  errorCodes,
  getBlob,
  headBlob,
  http,
  rebaseUrl,
  startUpload,
  streamedUpload,
  uploadUrl,
} from '../helpers/registry-http.ts'
import { spawnOrigin, startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'
import { getToken } from '../helpers/auth.ts'

const MiB = 1 << 20

interface Killable {
  url: string
  kill(signal?: NodeJS.Signals): Promise<void>
  close(): Promise<void>
}

interface Target {
  name: string
  /** a separate process on dataDir, so it can be SIGKILLed */
  spawn(dataDir: string): Promise<Killable>
  /** the usual test origin (in-process for Wharf) */
  start(): Promise<{ url: string; close(): Promise<void> }>
}

const targets: Target[] = []
if (process.env.WHARF_E2E_REFERENCE !== 'only') {
  targets.push({ name: 'wharf origin', spawn: (dataDir) => spawnOrigin({ dataDir }), start: () => startOrigin() })
}
if (process.env.WHARF_E2E_REFERENCE && referenceRegistryAvailable()) {
  targets.push({
    name: 'reference docker-registry',
    spawn: (dataDir) => startReferenceRegistry({ dataDir }),
    start: () => startReferenceRegistry(),
  })
}

const uid = (): string => randomBytes(5).toString('hex')

/**
 * A request body that sends `data` up to `stopAt` bytes and then stalls forever (it never ends), resolving
 * `stalled` once everything before `stopAt` has been handed to the socket.
 */
function stallingBody(data: Buffer, stopAt: number): { stream: Readable; stalled: Promise<void> } {
  let off = 0
  let onStalled: () => void = () => {}
  const stalled = new Promise<void>((resolve) => (onStalled = resolve))
  const stream = new Readable({
    highWaterMark: MiB,
    read() {
      if (off >= stopAt) {
        onStalled()
        return
      }
      const end = Math.min(off + MiB, stopAt)
      this.push(data.subarray(off, end))
      off = end
    },
  })
  return { stream, stalled }
}

/** The blob is unknown, and the interrupted session cannot be turned into a blob with this digest. */
async function expectNothingServed(url: string, repo: string, digest: string, staleLocation: string): Promise<void> {
  const get = await getBlob(url, repo, digest)
  expect(get.status, `GET blob after the interrupted upload: ${get.body.toString('utf8')}`).toBe(404)
  expect(errorCodes(get)).toContain('BLOB_UNKNOWN')
  expect((await headBlob(url, repo, digest)).status).toBe(404)

  // closing the interrupted session with the full content's digest must fail: only part of it arrived
  const stale = await http('PUT', uploadUrl(url, rebaseUrl(url, staleLocation), { digest }), {
    headers: { 'content-length': '0' },
  })
  expect(
    stale.status,
    `PUT ?digest= on the interrupted session: ${stale.body.toString('utf8')}`,
  ).toBeGreaterThanOrEqual(400)
  expect(stale.status).toBeLessThan(500)
  expect((await getBlob(url, repo, digest)).status).toBe(404)
}

/** POST + streamed PATCH + PUT ?digest= succeeds and the blob is then served with the right bytes. */
async function expectFreshUploadWorks(url: string, repo: string, data: Buffer, digest: string): Promise<void> {
  const { post, patch, put } = await streamedUpload(url, repo, data, digest)
  expect(post.status, `POST: ${post.body.toString('utf8')}`).toBe(202)
  expect(patch.status, `PATCH: ${patch.body.toString('utf8')}`).toBe(202)
  expect(patch.headers.range).toBe(`0-${data.length - 1}`)
  expect(put.status, `PUT: ${put.body.toString('utf8')}`).toBe(201)
  expect(put.headers['docker-content-digest']).toBe(digest)
  await expectServed(url, repo, data, digest)
}

async function expectServed(url: string, repo: string, data: Buffer, digest: string): Promise<void> {
  const head = await headBlob(url, repo, digest)
  expect(head.status).toBe(200)
  expect(Number(head.headers['content-length'])).toBe(data.length)
  const get = await getBlob(url, repo, digest)
  expect(get.status).toBe(200)
  expect(get.body.length).toBe(data.length)
  expect(sha256(get.body)).toBe(digest)
  expect(get.headers['docker-content-digest']).toBe(digest)
}

for (const target of targets) {
  describe(`upload faults → ${target.name}`, () => {
    it('SIGKILL mid-upload (64 MiB streamed PATCH): after a restart the partial blob is not served; a retry succeeds', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'wharf-faults-kill-'))
      const data = randomBytes(64 * MiB)
      const digest = sha256(data)
      const repo = `faults/kill-${uid()}`
      let origin = await target.spawn(dataDir)
      try {
        const { res: post, location } = await startUpload(origin.url, repo)
        expect(post.status).toBe(202)
        expect(location).not.toBe('')

        const body = stallingBody(data, 24 * MiB)
        const patch = http('PATCH', uploadUrl(origin.url, location), {
          headers: { 'content-type': 'application/octet-stream' },
          body: body.stream,
        }).then(
          (res) => ({ res }),
          (err: unknown) => ({ err }),
        )
        await body.stalled
        await sleep(500) // let the origin take in (and write) what is in flight
        await origin.kill('SIGKILL')
        const outcome = await patch
        // the body never ended, so the PATCH cannot have been accepted
        if ('res' in outcome) expect(outcome.res.status).toBeGreaterThanOrEqual(400)
        body.stream.destroy()
        await closeHttp(origin.url)

        origin = await target.spawn(dataDir)
        await expectNothingServed(origin.url, repo, digest, location)
        await expectFreshUploadWorks(origin.url, repo, data, digest)

        // an acknowledged blob survives the next SIGKILL
        await closeHttp(origin.url)
        await origin.kill('SIGKILL')
        origin = await target.spawn(dataDir)
        await expectServed(origin.url, repo, data, digest)
      } finally {
        await closeHttp(origin.url)
        await origin.close()
        rmSync(dataDir, { recursive: true, force: true })
      }
    })

    for (const framing of ['chunked', 'content-length'] as const) {
      it(`a client disconnecting mid-PATCH (${framing}) leaves nothing served; a retry succeeds`, async () => {
        const origin = await target.start()
        const data = randomBytes(16 * MiB)
        const digest = sha256(data)
        const repo = `faults/disconnect-${uid()}`
        try {
          const { res: post, location } = await startUpload(origin.url, repo)
          expect(post.status).toBe(202)

          const url = new URL(uploadUrl(origin.url, location))
          const headers: Record<string, string> = { 'content-type': 'application/octet-stream' }
          const token = await getToken(origin.url, [`repository:${repo}:pull,push`], TEST_ADMIN)
          if (token.status === 200) headers.authorization = `Bearer ${String(token.body.token)}`
          if (framing === 'content-length') headers['content-length'] = String(data.length)
          const req: ClientRequest = httpRequest({
            host: url.hostname,
            port: url.port,
            path: `${url.pathname}${url.search}`,
            method: 'PATCH',
            headers,
          })
          let status: number | undefined
          req.on('response', (res) => {
            status = res.statusCode
            res.resume()
          })
          req.on('error', () => {}) // we are about to break it
          for (let off = 0; off < 6 * MiB; off += 256 << 10) {
            if (!req.write(data.subarray(off, off + (256 << 10)))) await new Promise((r) => req.once('drain', r))
          }
          await sleep(200)
          req.destroy() // the socket goes away mid-body
          await sleep(300)
          // the server cannot have accepted a body that never ended
          if (status !== undefined) expect(status).toBeGreaterThanOrEqual(400)

          await expectNothingServed(origin.url, repo, digest, location)
          await expectFreshUploadWorks(origin.url, repo, data, digest)
          expect((await http('GET', `${origin.url}/v2/`)).status).toBe(200)
        } finally {
          await closeHttp(origin.url)
          await origin.close()
        }
      })
    }
  })
}
