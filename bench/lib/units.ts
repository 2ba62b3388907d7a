/**
 * Units used by every benchmark. Throughput and memory are reported in MB = 10^6 bytes (as in
 * /work/shared/research/perf-anchors.md); sizes given on the command line accept binary suffixes.
 */

export const MB = 1e6
export const KiB = 1024
export const MiB = 1024 * KiB
export const GiB = 1024 * MiB

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  kib: KiB,
  m: 1e6,
  mb: 1e6,
  mib: MiB,
  g: 1e9,
  gb: 1e9,
  gib: GiB,
}

/** Parses "1GiB", "256MiB", "512MB", "1048576" into bytes. Throws on anything else. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text)
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined
  if (!m || unit === undefined) throw new Error(`cannot parse size "${text}" (examples: 1GiB, 256MiB, 500MB, 1048576)`)
  const bytes = Math.round(Number(m[1]) * unit)
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new Error(`size "${text}" is out of range`)
  return bytes
}

/** "1 GiB", "256 MiB", "1.5 MiB", "100 B": for labels, not for parsing back. */
export function formatSize(bytes: number): string {
  for (const [unit, n] of [
    ['GiB', GiB],
    ['MiB', MiB],
    ['KiB', KiB],
  ] as const) {
    if (bytes >= n) return `${Number((bytes / n).toFixed(2))} ${unit}`
  }
  return `${bytes} B`
}

/** Megabytes per second, MB = 10^6 bytes. */
export function mbPerSecond(bytes: number, ms: number): number {
  return ms > 0 ? bytes / MB / (ms / 1000) : Number.NaN
}

export function round(value: number, digits = 1): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}
