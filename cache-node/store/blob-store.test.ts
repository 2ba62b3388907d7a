import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { digestOf } from '../../oci/digest.ts'
import { BlobStore } from './blob-store.ts'
import { IndexDb } from './index-db.ts'

let dir: string
let index: IndexDb
let clock = 0
const evicted: string[] = []

function store(maxBytes: number): BlobStore {
  return new BlobStore({
    dir,
    index,
    maxBytes,
    fsync: false,
    now: () => clock,
    log: pino({ level: 'silent' }),
    onEvict: (d) => evicted.push(d),
  })
}

/** Commits `size` random bytes at the next tick of the clock; answers the digest. */
async function add(s: BlobStore, size: number): Promise<string> {
  clock++
  const bytes = randomBytes(size)
  const digest = digestOf(bytes)
  const file = s.tmpPath()
  await writeFile(file, bytes)
  await s.commit(file, { digest, size, mediaType: null, source: 'wharf' })
  return digest
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-store-'))
  index = new IndexDb(join(dir, 'index.db'))
  evicted.length = 0
})

afterEach(async () => {
  index.close()
  await rm(dir, { recursive: true, force: true })
})

describe('BlobStore', () => {
  it('evicts the least recently used entries to stay under the cap', async () => {
    const s = store(300)
    await s.init()
    const a = await add(s, 100)
    const b = await add(s, 100)
    const c = await add(s, 100)
    clock++
    s.touch(a)
    const d = await add(s, 100)
    expect(evicted).toEqual([b])
    expect([a, c, d].every((x) => s.entry(x))).toBe(true)
    expect(s.usedBytes).toBe(300)
  })

  it('never evicts a pinned entry, and does not keep what finds no room', async () => {
    const s = store(250)
    await s.init()
    const a = await add(s, 100)
    const b = await add(s, 100)
    const unpinA = s.pin(a)
    const unpinB = s.pin(b)
    await add(s, 100)
    expect(evicted).toEqual([])
    expect(s.usedBytes).toBe(200)
    expect(await readdir(s.tmpDir)).toEqual([])
    unpinA()
    unpinB()
    const c = await add(s, 100)
    expect(evicted).toEqual([a])
    expect(s.entry(c)).toBeDefined()
  })

  it('counts reservations of fills in flight when making room', async () => {
    const s = store(300)
    await s.init()
    const a = await add(s, 100)
    const b = await add(s, 100)
    const r = (await s.reserve(150))!
    expect(evicted).toEqual([a])
    expect(s.reservedBytes).toBe(150)
    // another fill finds the room taken by the first one's reservation (b is being read): nothing is evicted
    const unpinB = s.pin(b)
    expect(await s.reserve(100)).toBeUndefined()
    expect(s.entry(b)).toBeDefined()
    unpinB()
    r.release()
    r.release()
    expect(s.reservedBytes).toBe(0)
    expect(s.entry(b)).toBeDefined()
  })

  it('grows a reservation as bytes arrive, evicting what is not read, and refuses past the cap', async () => {
    const s = store(300)
    await s.init()
    const a = await add(s, 100)
    const b = await add(s, 100)
    const unpinB = s.pin(b)
    const r = (await s.reserve(0))!
    expect(await r.grow(100)).toBe(true)
    expect(evicted).toEqual([])
    expect(await r.grow(100)).toBe(true)
    expect(evicted).toEqual([a])
    expect(await r.grow(1)).toBe(false)
    expect(r.bytes).toBe(200)
    expect(s.reservedBytes + s.usedBytes).toBe(300)
    r.release()
    unpinB()
    expect(s.reservedBytes).toBe(0)
  })

  it('leaves the cache alone for a blob larger than the cap', async () => {
    const s = store(250)
    await s.init()
    const a = await add(s, 100)
    expect(await s.reserve(1000)).toBeUndefined()
    await add(s, 1000)
    expect(evicted).toEqual([])
    expect(s.entry(a)).toBeDefined()
  })

  it('opens a data folder laid out as before lib/cas-store.ts: blobs/<algorithm>/<first two hex>/<hex>', async () => {
    const bytes = randomBytes(1000)
    const digest = digestOf(bytes)
    const hex = digest.slice('sha256:'.length)
    await mkdir(join(dir, 'blobs', 'sha256', hex.slice(0, 2)), { recursive: true })
    await writeFile(join(dir, 'blobs', 'sha256', hex.slice(0, 2), hex), bytes)
    index.insert({ digest, size: bytes.byteLength, mediaType: null }, clock, 'wharf')
    const s = store(10_000)
    expect(await s.init()).toMatchObject({ filesRemoved: 0, entriesRemoved: 0 })
    expect(await s.readBytes(digest)).toEqual(bytes)
  })

  it('applies a lowered cap at start', async () => {
    const big = store(1000)
    await big.init()
    const a = await add(big, 100)
    const b = await add(big, 100)
    const small = store(150)
    await small.init()
    expect(evicted).toEqual([a])
    expect(small.entry(b)).toBeDefined()
    expect(small.usedBytes).toBe(100)
  })
})
