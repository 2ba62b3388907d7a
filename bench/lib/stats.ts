/** Timing and summary helpers: medians with their spread over repeated rounds, warm-up rounds excluded. */

import { round } from './units.ts'

export interface Summary {
  n: number
  median: number
  min: number
  max: number
  /** (max - min) / median, in percent: above ~30 % on the shared 2-core machine, treat the figure as noise. */
  spreadPct: number
}

/** Median, min and max of a non-empty list (rounded to `digits` decimals for reports). */
export function summarize(values: readonly number[], digits = 1): Summary {
  const xs = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (xs.length === 0) return { n: 0, median: Number.NaN, min: Number.NaN, max: Number.NaN, spreadPct: Number.NaN }
  const mid = Math.floor(xs.length / 2)
  const median = xs.length % 2 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2
  const min = xs[0]!
  const max = xs[xs.length - 1]!
  return {
    n: xs.length,
    median: round(median, digits),
    min: round(min, digits),
    max: round(max, digits),
    spreadPct: median > 0 ? round(((max - min) / median) * 100, 0) : Number.NaN,
  }
}

/** "1234 (1100–1300)", or "1234" for a single value: how the perf notes quote figures. */
export function formatSummary(s: Summary): string {
  if (s.n === 0) return 'n/a'
  if (s.n === 1 || s.min === s.max) return String(s.median)
  return `${s.median} (${s.min}–${s.max})`
}

/** Runs `fn` and measures its wall time with the monotonic clock. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now()
  const value = await fn()
  return { value, ms: performance.now() - t0 }
}

export interface RoundPlan {
  /** Rounds run first and thrown away (page cache, JIT, first-file-creation costs). */
  warmup: number
  /** Rounds whose results are returned. */
  rounds: number
}

export interface RoundInfo {
  /** 0-based across warm-up and counted rounds. */
  index: number
  warmup: boolean
  /** 1-based among counted rounds; 0 during warm-up. */
  counted: number
  label: string
}

/** Runs warm-up rounds, then counted rounds, strictly one after another; returns only the counted results. */
export async function runRounds<T>(plan: RoundPlan, fn: (round: RoundInfo) => Promise<T>): Promise<T[]> {
  if (!Number.isInteger(plan.warmup) || plan.warmup < 0)
    throw new Error(`warm-up rounds must be >= 0, got ${plan.warmup}`)
  if (!Number.isInteger(plan.rounds) || plan.rounds < 1) throw new Error(`rounds must be >= 1, got ${plan.rounds}`)
  const out: T[] = []
  for (let index = 0; index < plan.warmup + plan.rounds; index++) {
    const warmup = index < plan.warmup
    const counted = warmup ? 0 : index - plan.warmup + 1
    const value = await fn({ index, warmup, counted, label: warmup ? `warm-up ${index + 1}` : `round ${counted}` })
    if (!warmup) out.push(value)
  }
  return out
}

/** Ratio a/b rounded to 2 decimals, NaN when b is 0 or either is missing. */
export function ratio(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? round(a / b, 2) : Number.NaN
}
