import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { digestOf } from '../oci/digest.ts'
import { casStoreContract, readAll } from './cas-store.contract.ts'
import { CasStore, IntegrityError } from './cas-store.ts'

function casIn(dir: string): CasStore {
  return new CasStore({ root: join(dir, 'blobs'), tmpDir: join(dir, 'tmp'), fsync: true })
}

casStoreContract('CasStore', async (dir) => {
  const cas = casIn(dir)
  await cas.init()
  return {
    put: (digest, source, size) => cas.writeVerified(digest, source, { size }),
    read: async (digest, range) =>
      (await cas.stat(digest)) === undefined ? undefined : readAll(cas.open(digest, range)),
    remove: (digest) => cas.remove(digest),
    list: async () => (await cas.list()).map((f) => f.digest),
    tmpFiles: () => readdir(cas.tmpDir),
    close: async () => undefined,
  }
})

describe('CasStore', () => {
  it('fails the write, not the process, when its source errors before the pipeline is attached', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wharf-cas-'))
    try {
      // a new store: the write first makes its folders, and the source is reset meanwhile
      const cas = casIn(dir)
      const source = new PassThrough()
      const write = cas.writeVerified(digestOf(Buffer.from('x')), source)
      source.destroy(new Error('reset before the first byte'))
      await expect(write).rejects.toThrow('reset before the first byte')
      const checked = new PassThrough()
      const check = cas.check(digestOf(Buffer.from('x')), checked)
      checked.destroy(new Error('reset while checking'))
      await expect(check).rejects.toThrow('reset while checking')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('lets a waiting write of a digest write it when the write it waited for failed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wharf-cas-'))
    try {
      const cas = casIn(dir)
      const bytes = Buffer.alloc(2 * 1024 * 1024, 7)
      const broken = new PassThrough()
      const first = cas.writeVerified(digestOf(bytes), broken, { size: bytes.byteLength })
      broken.write(bytes.subarray(0, 1024))
      const second = cas.writeVerified(digestOf(bytes), bytes, { size: bytes.byteLength })
      broken.destroy(new Error('connection reset'))
      await expect(first).rejects.toThrow('connection reset')
      expect(await second).toMatchObject({ written: true, size: bytes.byteLength })
      expect(await cas.readBytes(digestOf(bytes))).toEqual(bytes)
      expect(await readdir(cas.tmpDir)).toEqual([])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('keeps files at <root>/<algorithm>/<first two hex>/<hex>, the layout both stores had', () => {
    const cas = casIn('/data')
    const hex = 'ab'.repeat(32)
    expect(cas.pathOf(`sha256:${hex}`)).toBe(`/data/blobs/sha256/ab/${hex}`)
  })

  it('stores content of unknown size, and bytes given as a buffer', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wharf-cas-'))
    try {
      const cas = casIn(dir)
      const bytes = Buffer.from('{"schemaVersion":2}')
      await cas.writeVerified(digestOf(bytes), Readable.from([bytes]))
      const again = await cas.writeVerified(digestOf(bytes), bytes)
      expect(again).toEqual({ digest: digestOf(bytes), size: bytes.byteLength, written: true })
      expect(await cas.readBytes(digestOf(bytes))).toEqual(bytes)
      expect(await cas.stat(digestOf(bytes))).toBe(bytes.byteLength)
      const err = await cas.writeVerified(digestOf('x'), bytes).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(IntegrityError)
      expect(err).toMatchObject({ code: 'EINTEGRITY', expected: digestOf('x'), found: digestOf(bytes) })
      expect(await cas.clearTmp()).toBe(0)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
