/**
 * Helpers for reading configuration from environment variables. Each program's loadConfig collects every
 * problem in a ConfigProblems and throws once, so a bad start names every bad value at the same time.
 */
export type Env = Record<string, string | undefined>

/** What every program's configuration holds: where it listens and is reached, its data folder, TLS, log level. */
export interface ProgramConfig {
  listen: { host: string; port: number }
  /** Everything the program keeps. */
  dataDir: string
  /** How clients reach the program. */
  publicUrl: URL
  /** True when the public URL was not set: it follows the port actually bound (see withBoundPort). */
  publicUrlDerived: boolean
  tls?: { certFile: string; keyFile: string }
  logLevel: string
  /** `<prefix>_BODY_TIMEOUT` and `<prefix>_SEND_TIMEOUT`: how long a transfer may stall before it is dropped. */
  http: { bodyTimeoutMs: number; sendTimeoutMs: number }
}

/** The configuration once the server is bound: a derived public URL gets the real port (listening on port 0). */
export function withBoundPort<C extends ProgramConfig>(config: Readonly<C>, port: number): Readonly<C> {
  if (!config.publicUrlDerived || config.listen.port === port) return config
  const publicUrl = new URL(config.publicUrl)
  publicUrl.port = String(port)
  return Object.freeze({ ...config, publicUrl, listen: { ...config.listen, port } })
}

export class ConfigError extends Error {
  readonly problems: string[]
  constructor(program: string, problems: string[]) {
    super(`${program}: invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

/** The problems `load` reports (a program's loadConfig with its environment), or none when it loads. */
export function configProblems(load: () => unknown): string[] {
  try {
    load()
    return []
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
}

export class ConfigProblems {
  readonly list: string[] = []
  readonly #env: Env

  constructor(env: Env) {
    this.#env = env
  }

  add(problem: string): void {
    this.list.push(problem)
  }

  /** Throws a ConfigError naming every problem, if there were any. */
  throwIfAny(program: string): void {
    if (this.list.length > 0) throw new ConfigError(program, this.list)
  }

  raw(name: string): string | undefined {
    const v = this.#env[name]
    return v === undefined || v.trim() === '' ? undefined : v.trim()
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback
  }

  /** `host:port`, `[v6]:port` or `:port`; port 0 means any free port. */
  listen(name: string, fallback: string): { host: string; port: number } {
    const v = this.raw(name) ?? fallback
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(v)
    const port = m ? Number(m[3]) : NaN
    if (!m || port > 65535) {
      this.add(`${name}="${v}" is not host:port (e.g. 127.0.0.1:5000, or 0.0.0.0:443 to listen on every interface)`)
      return { host: '127.0.0.1', port: 0 }
    }
    return { host: m[1] ?? (m[2] || '0.0.0.0'), port }
  }

  url(name: string, fallback?: string): URL | undefined {
    const v = this.raw(name) ?? fallback
    if (v === undefined) return undefined
    try {
      const u = new URL(v)
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme')
      return u
    } catch {
      this.add(`${name}="${v}" is not an http:// or https:// URL`)
      return undefined
    }
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.raw(name)
    if (v === undefined) return fallback
    if (/^(1|true|yes|on)$/i.test(v)) return true
    if (/^(0|false|no|off)$/i.test(v)) return false
    this.add(`${name}="${v}" must be true or false`)
    return fallback
  }

  /** A duration such as `90s`, `15m`, `24h`, `7d` or a number of milliseconds. */
  duration(name: string, fallback: string): number {
    const v = this.raw(name) ?? fallback
    const ms = parseDuration(v)
    if (ms === undefined) {
      this.add(`${name}="${v}" is not a duration (use e.g. 500ms, 30s, 15m, 24h or 7d)`)
      return 0
    }
    return ms
  }

  /** A byte size such as `512MiB`, `50GiB`, `10GB` or a number of bytes. */
  bytes(name: string, fallback: string): number {
    const v = this.raw(name) ?? fallback
    const n = parseBytes(v)
    if (n === undefined) {
      this.add(`${name}="${v}" is not a size (use e.g. 512MiB, 50GiB or 1TB)`)
      return 0
    }
    return n
  }

  /** A `https://host[:port]` with no path, query or credentials: registries live at the root. */
  rootUrl(name: string, fallback: string): URL {
    const u = this.url(name, fallback)
    if (!u) return new URL('http://127.0.0.1')
    if (u.pathname !== '/' || u.search || u.hash || u.username || u.password) {
      this.add(`${name}="${u.href}" must be a bare http(s)://host[:port] with no path, query or credentials: registries live at the root`)
    }
    return u
  }

  /** `<prefix>_TLS_CERT` and `<prefix>_TLS_KEY`: both (PEM files, HTTPS) or neither (plain HTTP). */
  tls(prefix: string): { certFile: string; keyFile: string } | undefined {
    const certFile = this.raw(`${prefix}_TLS_CERT`)
    const keyFile = this.raw(`${prefix}_TLS_KEY`)
    if ((certFile === undefined) !== (keyFile === undefined)) {
      this.add(`${prefix}_TLS_CERT and ${prefix}_TLS_KEY go together: set both (PEM files) for HTTPS, or neither for plain HTTP`)
    }
    return certFile && keyFile ? { certFile, keyFile } : undefined
  }

  /**
   * The URL clients reach a program at: `<name>` when set, else derived from where it listens (a wildcard
   * listen address becomes 127.0.0.1). `derived` says which, so the port can follow the one actually bound.
   */
  publicUrl(name: string, listen: { host: string; port: number }, https: boolean): { url: URL; derived: boolean } {
    const host = listen.host === '0.0.0.0' || listen.host === '::' ? '127.0.0.1' : listen.host
    const hostPart = host.includes(':') ? `[${host}]` : host
    return { url: this.rootUrl(name, `${https ? 'https' : 'http'}://${hostPart}:${listen.port}`), derived: this.raw(name) === undefined }
  }

  /**
   * `<prefix>_BODY_TIMEOUT` (default 30s): a request body that makes no progress this long is dropped (408 when no
   * answer started). `<prefix>_SEND_TIMEOUT` (default 2m): a response the client reads nothing of this long is
   * dropped. Each is at least 1s.
   */
  httpLimits(prefix: string): { bodyTimeoutMs: number; sendTimeoutMs: number } {
    const limit = (name: string, fallback: string): number => {
      const raw = this.raw(name)
      const ms = this.duration(name, fallback)
      // a value that is no duration at all is reported by duration() already
      if (raw !== undefined && parseDuration(raw) !== undefined && ms < 1000)
        this.add(`${name}="${raw}" must be at least 1s (a stalled transfer is always dropped; this says when)`)
      return ms >= 1000 ? ms : parseDuration(fallback)!
    }
    return {
      bodyTimeoutMs: limit(`${prefix}_BODY_TIMEOUT`, '30s'),
      sendTimeoutMs: limit(`${prefix}_SEND_TIMEOUT`, '2m'),
    }
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const v = this.raw(name) ?? fallback
    if ((allowed as readonly string[]).includes(v)) return v as T
    this.add(`${name}="${v}" must be one of ${allowed.join(', ')}`)
    return fallback
  }
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

export function parseDuration(v: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(v.trim())
  if (!m) return undefined
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2] ?? 'ms']!)
}

const BYTE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
}

export function parseBytes(v: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?$/i.exec(v.trim())
  if (!m) return undefined
  return Math.round(Number(m[1]) * BYTE_UNITS[(m[2] ?? 'b').toLowerCase()]!)
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}
