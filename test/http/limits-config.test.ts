/** Every program reads its stall bounds under its own prefix, with the same defaults and checks. */
import { describe, expect, it } from 'vitest'
import { loadConfig as cacheConfig } from '../../cache-node/config.ts'
import { loadConfig as controlPlaneConfig } from '../../control-plane/config.ts'
import { configProblems } from '../../lib/config.ts'
import { loadConfig as originConfig } from '../../origin/config.ts'

const programs = [
  { prefix: 'ORIGIN', load: (env: Record<string, string>) => originConfig(env) },
  { prefix: 'CACHE', load: (env: Record<string, string>) => cacheConfig({ CACHE_ORIGIN_URL: 'https://r.example.com', ...env }) },
  {
    prefix: 'CONTROL_PLANE',
    load: (env: Record<string, string>) => controlPlaneConfig({ CONTROL_PLANE_ORIGIN_URL: 'https://r.example.com', ...env }),
  },
]

describe.each(programs)('$prefix_BODY_TIMEOUT and $prefix_SEND_TIMEOUT', ({ prefix, load }) => {
  it('default to 30s and 2m', () => {
    expect(load({}).http).toEqual({ bodyTimeoutMs: 30_000, sendTimeoutMs: 120_000 })
  })

  it('are read as durations', () => {
    expect(load({ [`${prefix}_BODY_TIMEOUT`]: '1s', [`${prefix}_SEND_TIMEOUT`]: '10m' }).http).toEqual({
      bodyTimeoutMs: 1000,
      sendTimeoutMs: 600_000,
    })
  })

  it('refuse a value under 1s or no duration at all', () => {
    expect(configProblems(() => load({ [`${prefix}_BODY_TIMEOUT`]: '500ms', [`${prefix}_SEND_TIMEOUT`]: 'never' }))).toEqual([
      `${prefix}_BODY_TIMEOUT="500ms" must be at least 1s (a stalled transfer is always dropped; this says when)`,
      `${prefix}_SEND_TIMEOUT="never" is not a duration (use e.g. 500ms, 30s, 15m, 24h or 7d)`,
    ])
  })
})
