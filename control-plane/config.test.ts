import { describe, expect, test } from 'vitest'
import { configProblems } from '../lib/config.ts'
import { bundledGeoipDir, loadConfig, withBoundPort } from './config.ts'

const base = { CONTROL_PLANE_ORIGIN_URL: 'https://registry.example.com' }

const problems = (env: Record<string, string>) => configProblems(() => loadConfig(env))

describe('control plane configuration', () => {
  test('defaults', () => {
    const c = loadConfig(base)
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 5002 })
    expect(c.dataDir).toMatch(/data\/control-plane$/)
    expect(c.originUrl.href).toBe('https://registry.example.com/')
    expect(c.publicUrl.href).toBe('http://127.0.0.1:5002/')
    expect(c.heartbeatIntervalMs).toBe(10_000)
    expect(c.downAfter).toBe(3)
    expect(c.metricsIntervalMs).toBe(60_000)
    expect(c.jwksRefreshMs).toBe(300_000)
    expect(c.geoipDir).toBe(bundledGeoipDir())
    expect(c.logLevel).toBe('info')
    expect(Object.isFrozen(c)).toBe(true)
  })

  test('reads every variable', () => {
    const c = loadConfig({
      ...base,
      CONTROL_PLANE_LISTEN: '0.0.0.0:6000',
      CONTROL_PLANE_DATA_DIR: '/tmp/cp',
      CONTROL_PLANE_PUBLIC_URL: 'https://cp.example.com',
      CONTROL_PLANE_HEARTBEAT_INTERVAL: '5s',
      CONTROL_PLANE_DOWN_AFTER: '4',
      CONTROL_PLANE_METRICS_INTERVAL: '2m',
      CONTROL_PLANE_GEOIP_DIR: '/srv/geoip',
      CONTROL_PLANE_JWKS_REFRESH: '1m',
      CONTROL_PLANE_LOG_LEVEL: 'debug',
    })
    expect(c.listen).toEqual({ host: '0.0.0.0', port: 6000 })
    expect(c.dataDir).toBe('/tmp/cp')
    expect(c.publicUrl.href).toBe('https://cp.example.com/')
    expect(c.heartbeatIntervalMs).toBe(5000)
    expect(c.downAfter).toBe(4)
    expect(c.metricsIntervalMs).toBe(120_000)
    expect(c.geoipDir).toBe('/srv/geoip')
    expect(c.jwksRefreshMs).toBe(60_000)
    expect(c.logLevel).toBe('debug')
  })

  test('the origin URL is required', () => {
    expect(problems({}).join('\n')).toMatch(/CONTROL_PLANE_ORIGIN_URL is required/)
  })

  test('every bad value is reported at once', () => {
    const list = problems({
      CONTROL_PLANE_ORIGIN_URL: 'https://registry.example.com/some/path',
      CONTROL_PLANE_LISTEN: 'nowhere',
      CONTROL_PLANE_HEARTBEAT_INTERVAL: '50ms',
      CONTROL_PLANE_DOWN_AFTER: 'zero',
      CONTROL_PLANE_METRICS_INTERVAL: 'soon',
      CONTROL_PLANE_LOG_LEVEL: 'loud',
      CONTROL_PLANE_TLS_CERT: '/cert.pem',
    })
    expect(list).toHaveLength(7)
    const text = list.join('\n')
    for (const name of [
      'CONTROL_PLANE_ORIGIN_URL',
      'CONTROL_PLANE_LISTEN',
      'CONTROL_PLANE_HEARTBEAT_INTERVAL must be at least 100ms',
      'CONTROL_PLANE_DOWN_AFTER',
      'CONTROL_PLANE_METRICS_INTERVAL',
      'CONTROL_PLANE_LOG_LEVEL',
      'CONTROL_PLANE_TLS_KEY',
    ])
      expect(text).toContain(name)
  })

  test('a derived public URL follows the bound port', () => {
    const c = withBoundPort(loadConfig({ ...base, CONTROL_PLANE_LISTEN: '127.0.0.1:0' }), 41234)
    expect(c.publicUrl.href).toBe('http://127.0.0.1:41234/')
    const fixed = loadConfig({ ...base, CONTROL_PLANE_LISTEN: '127.0.0.1:0', CONTROL_PLANE_PUBLIC_URL: 'https://cp.example.com' })
    expect(withBoundPort(fixed, 41234).publicUrl.href).toBe('https://cp.example.com/')
  })
})
