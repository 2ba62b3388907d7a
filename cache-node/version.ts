import { readFileSync } from 'node:fs'

let cached: string | undefined

/** Wharf's version, from package.json (sent to the control plane when joining and in heartbeats). */
export function wharfVersion(): string {
  if (cached === undefined) {
    cached = 'unknown'
    // beside the sources (run with tsx), or two levels up when compiled into dist/
    for (const rel of ['../package.json', '../../package.json']) {
      try {
        const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown }
        if (pkg.name === 'wharf' && typeof pkg.version === 'string') {
          cached = pkg.version
          break
        }
      } catch {
        // not there: try the next place
      }
    }
  }
  return cached
}
