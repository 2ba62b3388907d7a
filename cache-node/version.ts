import { readFileSync } from 'node:fs'

let cached: string | undefined

/** Wharf's version, from package.json (sent to the control plane when joining and in heartbeats). */
export function wharfVersion(): string {
  if (cached === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown }
      cached = typeof pkg.version === 'string' ? pkg.version : 'unknown'
    } catch {
      cached = 'unknown'
    }
  }
  return cached
}
