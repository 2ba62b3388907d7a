import type { ParseArgsConfig } from 'node:util'
import type { ControlPlaneClient } from './api.ts'
import { UsageError } from './errors.ts'

export type Options = NonNullable<ParseArgsConfig['options']>
export type Values = Record<string, string | boolean | string[] | boolean[] | undefined>

/** What a command gets: the API client, where to write, and the parsed arguments. */
export interface Ctx {
  api: ControlPlaneClient
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
