/** What main.ts and the scenarios share: the options, the two sides and their servers, and the recorded samples. */
import type { BenchClient } from '../lib/registry-client.ts'
import { type BenchServer } from '../lib/servers.ts'

export const SCENARIOS = ['limits', 'push', 'get', 'cache', 'fan', 'manifest', 'memory', 'docker'] as const
export type Scenario = (typeof SCENARIOS)[number]
export type Side = 'wharf' | 'distribution'
export const SIDES: Side[] = ['wharf', 'distribution']

export interface Options {
  quick: boolean
  rounds: number
  warmup: number
  pushSize: number
  fanSize: number
  fanClients: number
  fanRounds: number
  memSize: number
  memClients: number
  memRounds: number
  wrkSeconds: number
  wrkRounds: number
  wrkConnections: number
  dockerRounds: number
  only: Set<Scenario>
  wharfNodeArgs: string[]
  keep: boolean
  updateReadme: boolean
  install: boolean
}

export interface Pair {
  origin: BenchServer
  originClient: BenchClient
  cache?: BenchServer
  cacheClient?: BenchClient
  /** Why there is no cache server for this side. */
  cacheMissing?: string
}

export const samples: Record<string, Partial<Record<Side, number[]>>> = {}
export const extra: Record<string, unknown> = {}
export const fanFailures: string[] = []
extra.fanFailures = fanFailures

export function record(id: string, side: Side, value: number): void {
  ;((samples[id] ??= {})[side] ??= []).push(value)
}

export function sortedSides(roundIndex: number): Side[] {
  // alternate who goes first so drift (page cache, other load) does not always favour the same side
  return roundIndex % 2 === 0 ? SIDES : [...SIDES].reverse()
}
