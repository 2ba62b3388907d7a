import { LRUCache } from 'lru-cache'
import { describe, expect, it } from 'vitest'
import { lruClock } from './lru-clock.ts'

describe('lruClock', () => {
  it('expires entries on the injected clock, one set at time 0 too', () => {
    let t = 0
    const cache = new LRUCache<string, string>({ max: 10, ttl: 1000, ...lruClock(() => t) })
    cache.set('a', 'x')
    t = 999
    expect(cache.get('a')).toBe('x')
    t = 1001
    expect(cache.get('a')).toBeUndefined()
  })
})
