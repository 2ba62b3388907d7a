import type { ParseArgsConfig } from 'node:util'
import type { CliControlPlaneClient } from './api.ts'
import { UsageError } from './errors.ts'

export type Options = NonNullable<ParseArgsConfig['options']>
export type Values = Record<string, string | boolean | string[] | boolean[] | undefined>

/** What a command gets: the API client, where to write, and the parsed arguments. */
export interface Ctx {
  api: CliControlPlaneClient
  out(text: string): void
  args: string[]
  values: Values
  json: boolean
}

/** One `wharf <group> <name>` command. */
export interface Command {
  /** `sites list`, `report`. */
  name: string
  usage: string
  summary: string
  options?: Options
  run(ctx: Ctx): Promise<void>
}

export function opt(values: Values, name: string): string | undefined {
  const v = values[name]
  return typeof v === 'string' ? v : undefined
}

export function list(values: Values, name: string): string[] {
  const v = values[name]
  return Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : []
}

/** The positional argument at `i`, or a usage error naming it. */
export function arg(ctx: Ctx, i: number, name: string): string {
  const v = ctx.args[i]
  if (v === undefined || v === '') throw new UsageError(`missing <${name}>`)
  return v
}

export function noExtra(ctx: Ctx, count: number): void {
  if (ctx.args.length > count) throw new UsageError(`unexpected argument "${ctx.args[count]}"`)
}

export function number(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number (got "${v}")`)
  return n
}

export const pretty = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`

/**
 * Joins a string option and a negative number after it (`--longitude -6.26` → `--longitude=-6.26`): parseArgs
 * would read `-6.26` as options of its own. Only a value that is a whole number is taken, so a real option after a
 * string option that lacks its value is still reported as missing.
 */
export function joinNegativeValues(args: string[], options: Options): string[] {
  const out: string[] = []
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === '--') {
      out.push(...args.slice(i))
      break
    }
    const next = args[i + 1]
    const name = a.startsWith('--') && !a.includes('=') ? a.slice(2) : undefined
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(next)) {
      out.push(`${a}=${next}`)
      i++
    } else out.push(a)
  }
  return out
}
