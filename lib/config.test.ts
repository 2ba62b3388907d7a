import { describe, expect, it } from 'vitest'
import { ConfigError, ConfigProblems, isLoopback, parseBytes, parseDuration } from './config.ts'

describe('ConfigProblems.raw / string', () => {
  it('trims values and treats empty or blank ones as unset', () => {
    const p = new ConfigProblems({ A: '  x  ', B: '', C: '   ' })
    expect(p.raw('A')).toBe('x')
    expect(p.raw('B')).toBeUndefined()
    expect(p.raw('C')).toBeUndefined()
    expect(p.raw('MISSING')).toBeUndefined()
    expect(p.string('B', 'fallback')).toBe('fallback')
    expect(p.string('A', 'fallback')).toBe('x')
    expect(p.list).toEqual([])
  })
})

describe('ConfigProblems.listen', () => {
  it.each([
    ['127.0.0.1:5000', { host: '127.0.0.1', port: 5000 }],
    ['0.0.0.0:443', { host: '0.0.0.0', port: 443 }],
    ['localhost:0', { host: 'localhost', port: 0 }],
    ['[::1]:8080', { host: '::1', port: 8080 }],
    ['[::]:65535', { host: '::', port: 65535 }],
    [':5000', { host: '0.0.0.0', port: 5000 }],
  ])('reads %s', (value, want) => {
    const p = new ConfigProblems({ L: value })
    expect(p.listen('L', '127.0.0.1:1')).toEqual(want)
    expect(p.list).toEqual([])
  })

  it('uses the fallback when unset', () => {
    const p = new ConfigProblems({})
    expect(p.listen('L', '127.0.0.1:5000')).toEqual({ host: '127.0.0.1', port: 5000 })
  })

  it.each(['5000', '127.0.0.1', '127.0.0.1:', '127.0.0.1:65536', '127.0.0.1:123456', '::1:5000', 'host:port', '[::1]'])(
    'records a problem for %s',
    (value) => {
      const p = new ConfigProblems({ L: value })
      p.listen('L', '127.0.0.1:5000')
      expect(p.list).toHaveLength(1)
      expect(p.list[0]).toContain(`L="${value}"`)
    },
  )
})

describe('ConfigProblems.url', () => {
  it('accepts http and https URLs', () => {
    const p = new ConfigProblems({ U: 'https://registry.example.com', V: 'http://127.0.0.1:5000' })
    expect(p.url('U')?.href).toBe('https://registry.example.com/')
    expect(p.url('V')?.host).toBe('127.0.0.1:5000')
    expect(p.list).toEqual([])
  })

  it('returns undefined without a value or fallback, and uses the fallback otherwise', () => {
    const p = new ConfigProblems({})
    expect(p.url('U')).toBeUndefined()
    expect(p.url('U', 'http://x.example')?.hostname).toBe('x.example')
    expect(p.list).toEqual([])
  })

  it.each(['ftp://example.com', 'not a url', 'registry.example.com', 'file:///etc/passwd'])('refuses %s', (value) => {
    const p = new ConfigProblems({ U: value })
    expect(p.url('U')).toBeUndefined()
    expect(p.list).toEqual([`U="${value}" is not an http:// or https:// URL`])
  })
})

describe('ConfigProblems.bool', () => {
  it.each(['1', 'true', 'TRUE', 'yes', 'on', 'On'])('%s is true', (v) => {
    const p = new ConfigProblems({ B: v })
    expect(p.bool('B', false)).toBe(true)
    expect(p.list).toEqual([])
  })

  it.each(['0', 'false', 'False', 'no', 'off'])('%s is false', (v) => {
    const p = new ConfigProblems({ B: v })
    expect(p.bool('B', true)).toBe(false)
    expect(p.list).toEqual([])
  })

  it('falls back when unset, and records anything else as a problem', () => {
    expect(new ConfigProblems({}).bool('B', true)).toBe(true)
    const p = new ConfigProblems({ B: 'maybe' })
    expect(p.bool('B', true)).toBe(true)
    expect(p.list).toEqual(['B="maybe" must be true or false'])
  })
})

describe('durations and sizes', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['15m', 900_000],
    ['24h', 86_400_000],
    ['7d', 604_800_000],
    ['1.5s', 1500],
    ['250', 250],
    [' 2 h ', 7_200_000],
  ])('parseDuration(%s) = %i', (v, ms) => {
    expect(parseDuration(v)).toBe(ms)
  })

  it.each(['', 'h', '1w', '-1s', '1 hour', '1e3s', 'abc'])('parseDuration(%s) is undefined', (v) => {
    expect(parseDuration(v)).toBeUndefined()
  })

  it.each([
    ['512MiB', 512 * 2 ** 20],
    ['50GiB', 50 * 2 ** 30],
    ['1TB', 1e12],
    ['10gb', 1e10],
    ['1KiB', 1024],
    ['100', 100],
    ['100b', 100],
    ['1.5kb', 1500],
  ])('parseBytes(%s) = %i', (v, n) => {
    expect(parseBytes(v)).toBe(n)
  })

  it.each(['', 'MiB', '1PB', '-1', '1 megabyte', '1ib'])('parseBytes(%s) is undefined', (v) => {
    expect(parseBytes(v)).toBeUndefined()
  })

  it('ConfigProblems.duration and .bytes record a problem and return 0 for a bad value', () => {
    const p = new ConfigProblems({ D: 'forever', S: 'lots' })
    expect(p.duration('D', '1h')).toBe(0)
    expect(p.bytes('S', '1GiB')).toBe(0)
    expect(p.list).toHaveLength(2)
    expect(p.list[0]).toMatch(/^D="forever" is not a duration/)
    expect(p.list[1]).toMatch(/^S="lots" is not a size/)
  })

  it('ConfigProblems.duration and .bytes use the fallback when unset', () => {
    const p = new ConfigProblems({})
    expect(p.duration('D', '1h')).toBe(3_600_000)
    expect(p.bytes('S', '1GiB')).toBe(2 ** 30)
    expect(p.list).toEqual([])
  })
})

describe('ConfigProblems.oneOf', () => {
  it('accepts a listed value and falls back when unset', () => {
    const p = new ConfigProblems({ LEVEL: 'debug' })
    expect(p.oneOf('LEVEL', ['info', 'debug'] as const, 'info')).toBe('debug')
    expect(p.oneOf('OTHER', ['info', 'debug'] as const, 'info')).toBe('info')
    expect(p.list).toEqual([])
  })

  it('records anything else, naming the allowed values, and returns the fallback', () => {
    const p = new ConfigProblems({ LEVEL: 'loud' })
    expect(p.oneOf('LEVEL', ['info', 'debug'] as const, 'info')).toBe('info')
    expect(p.list).toEqual(['LEVEL="loud" must be one of info, debug'])
  })
})

describe('throwIfAny', () => {
  it('does nothing when there were no problems', () => {
    expect(() => new ConfigProblems({}).throwIfAny('origin')).not.toThrow()
  })

  it('names every problem in one ConfigError', () => {
    const p = new ConfigProblems({ A: 'x', B: 'y', C: 'z' })
    p.bool('A', true)
    p.duration('B', '1s')
    p.add('C is wrong')
    let err: unknown
    try {
      p.throwIfAny('origin')
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ConfigError)
    const ce = err as ConfigError
    expect(ce.name).toBe('ConfigError')
    expect(ce.problems).toHaveLength(3)
    expect(ce.message.split('\n')).toEqual([
      'origin: invalid configuration:',
      '  - A="x" must be true or false',
      expect.stringMatching(/^ {2}- B="y" is not a duration/),
      '  - C is wrong',
    ])
  })
})

describe('isLoopback', () => {
  it.each(['localhost', '127.0.0.1', '127.1.2.3', '::1'])('%s is loopback', (h) => {
    expect(isLoopback(h)).toBe(true)
  })

  it.each(['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', '127.0.0.1.example.com', 'localhost.example.com', '1127.0.0.1'])(
    '%s is not',
    (h) => {
      expect(isLoopback(h)).toBe(false)
    },
  )
})

describe('ConfigProblems.httpLimits', () => {
  it('defaults to 30s for a stalled request body and 2m for a client that stops reading', () => {
    const p = new ConfigProblems({})
    expect(p.httpLimits('X')).toEqual({ bodyTimeoutMs: 30_000, sendTimeoutMs: 120_000 })
    expect(p.list).toEqual([])
  })

  it('reads <prefix>_BODY_TIMEOUT and <prefix>_SEND_TIMEOUT as durations', () => {
    const p = new ConfigProblems({ X_BODY_TIMEOUT: '1s', X_SEND_TIMEOUT: '5m' })
    expect(p.httpLimits('X')).toEqual({ bodyTimeoutMs: 1000, sendTimeoutMs: 300_000 })
    expect(p.list).toEqual([])
  })

  it('refuses values under 1s and values that are no duration, naming each', () => {
    const p = new ConfigProblems({ X_BODY_TIMEOUT: '0', X_SEND_TIMEOUT: 'soon' })
    expect(p.httpLimits('X')).toEqual({ bodyTimeoutMs: 30_000, sendTimeoutMs: 120_000 })
    expect(p.list).toHaveLength(2)
    expect(p.list[0]).toMatch(/X_BODY_TIMEOUT="0" must be at least 1s/)
    expect(p.list[1]).toMatch(/X_SEND_TIMEOUT="soon" is not a duration/)
  })
})
