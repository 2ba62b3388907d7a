import { describe, expect, it } from 'vitest'
import { isLoopback, statementLabel } from './metrics.ts'
import { redactedQuery } from './request-log.ts'

describe('redactedQuery', () => {
  it('replaces the values of credential parameters and keeps the rest', () => {
    expect(redactedQuery('http://h/v2/a/blobs/d?grant=abc&digest=sha256:1')).toBe('grant=[redacted]&digest=sha256:1')
    expect(redactedQuery('http://h/auth/token?service=x&scope=repository:a:pull&Token=t&access%5Ftoken=u')).toBe(
      'service=x&scope=repository:a:pull&Token=[redacted]&access%5Ftoken=[redacted]',
    )
  })

  it('is undefined without a query', () => {
    expect(redactedQuery('http://h/v2/')).toBeUndefined()
    expect(redactedQuery('http://h/v2/?')).toBeUndefined()
  })
})

describe('statementLabel', () => {
  it('names the verb and the first table', () => {
    expect(statementLabel('SELECT * FROM blobs WHERE digest = ?')).toBe('SELECT blobs')
    expect(statementLabel('INSERT OR IGNORE INTO links (a) VALUES (?)')).toBe('INSERT links')
    expect(statementLabel('UPDATE blobs SET x = 1')).toBe('UPDATE blobs')
    expect(statementLabel('SELECT 1')).toBe('SELECT')
  })
})

describe('isLoopback', () => {
  it('takes 127.0.0.0/8, ::1 and IPv4-mapped loopback, nothing else', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) expect(isLoopback(a)).toBe(true)
    for (const a of ['10.0.0.1', '192.0.2.1', '::ffff:10.0.0.1', '2001:db8::1', 'garbage'])
      expect(isLoopback(a)).toBe(false)
  })
})
