import { describe, expect, it } from 'vitest'
import { hourOf, MAX_USAGE_ROWS, Usage } from './usage.ts'

describe('Usage', () => {
  it('counts per repository and UTC hour; hit and stale are hits, miss and coalesced are misses', () => {
    let t = Date.parse('2026-11-23T14:59:59.999Z')
    const u = new Usage(() => t)
    u.request({ repository: 'a', cache: 'miss', bytes: 10 })
    u.fromUpstream('a', 10)
    u.request({ repository: 'a', cache: 'hit', bytes: 10 })
    u.request({ repository: 'a', cache: 'stale', bytes: 3 })
    u.request({ repository: 'a', cache: 'coalesced', bytes: 10 })
    u.request({ repository: 'a', cache: undefined, bytes: 99 })
    t += 1
    u.request({ repository: 'a', cache: 'hit', bytes: 10 })
    u.fromUpstream('b', 5)
    expect(u.take()).toEqual([
      {
        repository: 'a',
        hour: '2026-11-23T14:00:00.000Z',
        requests: 4,
        hits: 2,
        misses: 2,
        bytesToClients: 33,
        bytesFromUpstream: 10,
      },
      {
        repository: 'a',
        hour: '2026-11-23T15:00:00.000Z',
        requests: 1,
        hits: 1,
        misses: 0,
        bytesToClients: 10,
        bytesFromUpstream: 0,
      },
      {
        repository: 'b',
        hour: '2026-11-23T15:00:00.000Z',
        requests: 0,
        hits: 0,
        misses: 0,
        bytesToClients: 0,
        bytesFromUpstream: 5,
      },
    ])
    expect(u.take()).toEqual([])
    expect(u.pending).toBe(0)
    // since start, not since the last take
    expect(u.hitRatio()).toBe(3 / 5)
  })

  it('has no hit ratio before any answer, and puts rows back for the next batch', () => {
    const u = new Usage(() => Date.parse('2026-01-01T00:30:00Z'))
    expect(u.hitRatio()).toBeNull()
    u.request({ repository: 'a', cache: 'hit', bytes: 1 })
    const rows = u.take()
    u.request({ repository: 'a', cache: 'miss', bytes: 2 })
    u.putBack(rows)
    expect(u.take()).toEqual([
      {
        repository: 'a',
        hour: '2026-01-01T00:00:00.000Z',
        requests: 2,
        hits: 1,
        misses: 1,
        bytesToClients: 3,
        bytesFromUpstream: 0,
      },
    ])
  })

  it('keeps memory bounded: past the row cap new repositories share _other', () => {
    const u = new Usage(() => 0)
    for (let i = 0; i < MAX_USAGE_ROWS + 5; i++) u.request({ repository: `r${i}`, cache: 'miss', bytes: 1 })
    const rows = u.take()
    expect(rows).toHaveLength(MAX_USAGE_ROWS + 1)
    expect(rows.at(-1)).toMatchObject({ repository: '_other', requests: 5 })
  })

  it('names hours by their UTC start', () => {
    expect(hourOf(Date.parse('2026-11-23T14:37:12.345+02:00'))).toBe('2026-11-23T12:00:00.000Z')
  })
})
