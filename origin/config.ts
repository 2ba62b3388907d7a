import { resolve } from 'node:path'
import { ConfigProblems, isLoopback, type Env } from '../lib/config.ts'

export interface OriginConfig {
  listen: { host: string; port: number }
  /** Everything the origin keeps: database, blobs, upload sessions. */
  dataDir: string
  /** The URL clients use to reach the origin (token realm and absolute links are built from it). */
  publicUrl: URL
  tls?: { certFile: string; keyFile: string }
  logLevel: string
  /** fsync blobs and upload chunks before acknowledging them (survives power loss, not just a killed process). */
  fsync: boolean
  /** Upload sessions untouched for this long are removed. */
  uploadTtlMs: number
}

/**
 * Reads the origin's configuration from environment variables (see README's table). Pure: no file is read here.
 * Throws a ConfigError naming every bad value.
 */
export function loadConfig(env: Env): Readonly<OriginConfig> {
  const p = new ConfigProblems(env)
  const listen = p.listen('ORIGIN_LISTEN', '127.0.0.1:5000')
  const dataDir = resolve(p.string('ORIGIN_DATA_DIR', './data/origin'))
  const certFile = p.raw('ORIGIN_TLS_CERT')
  const keyFile = p.raw('ORIGIN_TLS_KEY')
  if ((certFile === undefined) !== (keyFile === undefined)) {
    p.add('ORIGIN_TLS_CERT and ORIGIN_TLS_KEY go together: set both (PEM files) for HTTPS, or neither for plain HTTP')
  }
  const tls = certFile && keyFile ? { certFile, keyFile } : undefined
  const scheme = tls ? 'https' : 'http'
  const defaultHost = listen.host === '0.0.0.0' || listen.host === '::' ? '127.0.0.1' : listen.host
  const hostPart = defaultHost.includes(':') ? `[${defaultHost}]` : defaultHost
  const publicUrl = p.url('ORIGIN_PUBLIC_URL', `${scheme}://${hostPart}:${listen.port}`) ?? new URL('http://127.0.0.1')
  if (publicUrl.pathname !== '/' || publicUrl.search || publicUrl.hash) {
    p.add(`ORIGIN_PUBLIC_URL="${publicUrl}" must not have a path, query or fragment: registries live at the root`)
  }
  if (!isLoopback(listen.host)) {
    p.add(
      `ORIGIN_LISTEN="${listen.host}:${listen.port}": this origin has no authentication yet, so it listens on loopback only (127.0.0.1)`,
    )
  }
  const config: OriginConfig = {
    listen,
    dataDir,
    publicUrl,
    tls,
    logLevel: p.oneOf('ORIGIN_LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
    fsync: p.bool('ORIGIN_FSYNC', true),
    uploadTtlMs: p.duration('ORIGIN_UPLOAD_TTL', '24h'),
  }
  p.throwIfAny('origin')
  return Object.freeze(config)
}
