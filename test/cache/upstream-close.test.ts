/**
 * An upstream that closes its connection after every response (`Connection: close`, legal HTTP/1.1), with each
 * response and its FIN arriving together. When a fill's body is still being written to disk as the socket ends,
 * undici's parser is paused by backpressure, and undici 7 asserted on the socket's 'end' (undici issue #5360):
 * an exception no request could catch, and the process exited. The cache runs as its own process here so that
 * such a crash shows as a dead process, not as a killed test worker.
 */
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { blob, manifest, manifestFor, open, sha256 } from '../helpers/cache-http.ts'
import { startFakeRegistry, type FakeRegistry } from '../helpers/fake-registry.ts'
import { imageConfig } from '../helpers/oci-fixtures.ts'
import { spawnCache } from '../helpers/start-cache.ts'
import type { SpawnedProgram } from '../helpers/spawn-program.ts'

const KiB = 1024
const MiB = 1024 * KiB
const NS = 'fake.test'

let fake: FakeRegistry
let cache: Awaited<ReturnType<typeof spawnCache>>

beforeAll(async () => {
  // one write per body: the whole response and the FIN reach the cache together
  fake = await startFakeRegistry({ chunkSize: 16 * MiB })
  fake.intercept = (_req, res) => {
    res.setHeader('Connection', 'close')
    return false
  }
  cache = await spawnCache({ originUrl: 'http://127.0.0.1:1', env: { CACHE_UPSTREAMS: `${NS}=${fake.url}` } })
})

afterAll(async () => {
  await cache?.close()
  await fake?.close()
})

function expectAlive(p: SpawnedProgram): void {
  expect(p.stderr()).not.toContain('AssertionError')
  expect(p.running()).toBe(true)
}

/** Reads a body 16 KiB at a time with a pause between reads: a client on a slow link. */
async function readSlowly(body: NodeJS.ReadableStream & AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of body) {
    chunks.push(chunk)
    await sleep(2)
  }
  return Buffer.concat(chunks)
}

describe('an upstream that closes the connection after each response', () => {
  it('fills blobs of every size while a slow client reads, and the cache process stays up', async () => {
    const big = fake.addBlob('lib/close', randomBytes(8 * MiB))
    const slow = await open(`${cache.url}/v2/lib/close/blobs/${big.digest}?ns=${NS}`)
    expect(slow.status).toBe(200)
    const slowBody = readSlowly(slow.body as never)
    slowBody.catch(() => undefined) // awaited below; a crash must fail the test there, not as an unhandled rejection
    const sizes = [64 * KiB, 64 * KiB + 1, 100 * KiB, 128 * KiB, 256 * KiB, MiB, MiB + 4097, 2 * MiB, 3 * MiB + 1]
    for (let round = 0; round < 3; round++) {
      const blobs = sizes.map((n) => fake.addBlob('lib/close', randomBytes(n)))
      const answers = await Promise.allSettled(blobs.map((c) => blob(cache.url, 'lib/close', c.digest, { ns: NS })))
      expectAlive(cache)
      answers.forEach((res, i) => {
        expect(res.status).toBe('fulfilled')
        const { value } = res as PromiseFulfilledResult<Awaited<ReturnType<typeof blob>>>
        expect(value.status).toBe(200)
        expect(sha256(value.body)).toBe(blobs[i]!.digest)
      })
    }
    expect(sha256(await slowBody)).toBe(big.digest)
    // and from the cache now, without the upstream
    const again = await blob(cache.url, 'lib/close', big.digest, { ns: NS })
    expect(sha256(again.body)).toBe(big.digest)
    expectAlive(cache)
  })

  it('serves manifests through it too', async () => {
    const config = fake.addBlob('lib/close-man', imageConfig())
    const m = manifestFor(config, [])
    fake.putManifest('lib/close-man', m, 'v1')
    const res = await manifest(cache.url, 'lib/close-man', 'v1', { ns: NS })
    expect(res.status).toBe(200)
    expect(res.body.equals(m.bytes)).toBe(true)
    expectAlive(cache)
  })
})
