import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { IndexDb } from './index-db.ts'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-index-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('the metrics outbox', () => {
  it('names batches by site and a sequence that survives reopening and emptying', () => {
    let db = new IndexDb(join(dir, 'index.db'))
    expect(db.addBatches('s_a', [(b) => `{"batch":"${b}"}`, (b) => `{"batch":"${b}"}`], 1)).toEqual(['s_a-1', 's_a-2'])
    expect(db.pendingBatches('s_a').map((b) => [b.seq, b.batch, b.payload])).toEqual([
      [1, 's_a-1', '{"batch":"s_a-1"}'],
      [2, 's_a-2', '{"batch":"s_a-2"}'],
    ])
    db.deleteBatch(1)
    db.deleteBatch(2)
    expect(db.outboxCount()).toBe(0)
    db.close()

    db = new IndexDb(join(dir, 'index.db'))
    try {
      expect(db.addBatches('s_a', [(b) => b], 2)).toEqual(['s_a-3'])
      expect(db.addBatches('s_b', [(b) => b], 3)).toEqual(['s_b-4'])
      expect(db.pendingBatches('s_b').map((b) => b.batch)).toEqual(['s_b-4'])
      expect(db.dropBatchesNotOf('s_b')).toBe(1)
      expect(db.outboxCount()).toBe(1)
    } finally {
      db.close()
    }
  })

  it('adds all of a flush or none of it', () => {
    const db = new IndexDb(join(dir, 'index.db'))
    try {
      expect(() =>
        db.addBatches(
          's_a',
          [
            (b) => b,
            () => {
              throw new Error('boom')
            },
          ],
          1,
        ),
      ).toThrow('boom')
      expect(db.outboxCount()).toBe(0)
      expect(db.addBatches('s_a', [(b) => b], 1)).toEqual(['s_a-1'])
    } finally {
      db.close()
    }
  })
})
