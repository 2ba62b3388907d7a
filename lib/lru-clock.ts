/**
 * lru-cache options that make its `ttl` run on an injected clock (tests pass one): the clock is read on every
 * look-up (ttlResolution 0), never through a copy up to a millisecond old, and shifted by one because lru-cache
 * reads an entry's start time of 0 as "no ttl" (a test clock may well start at 0).
 */
export function lruClock(now: () => number): { perf: { now: () => number }; ttlResolution: 0 } {
  return { perf: { now: () => now() + 1 }, ttlResolution: 0 }
}
