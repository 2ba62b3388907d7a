/** Result metadata and Markdown output shared by benchmarks. */
import { cpus, freemem, loadavg, release, totalmem } from 'node:os'
import { programsRoot } from './servers.ts'
import { MB, round } from './units.ts'

export interface MachineInfo {
  cpus: number
  cpuModel: string
  memTotalMB: number
  memFreeMB: number
  kernel: string
  node: string
  /** 1, 5 and 15 minute load averages: above ~1 on 2 cores, other work competed with the benchmark. */
  loadavg: number[]
}

export function machineInfo(): MachineInfo {
  const list = cpus()
  return {
    cpus: list.length,
    cpuModel: list[0]?.model ?? 'unknown',
    memTotalMB: round(totalmem() / MB, 0),
    memFreeMB: round(freemem() / MB, 0),
    kernel: release(),
    node: process.version,
    loadavg: loadavg().map((x) => round(x, 2)),
  }
}

/** A GitHub-flavoured Markdown table; cells are printed as given. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

/** Progress and notes go to stderr, so stdout carries only the result (JSON, then the table). */
export function note(msg: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`)
}

/** What a long-running benchmark's result starts with: what ran, when, on which machine, with which programs. */
export function runHeader(run: {
  benchmark: string
  command: string
  startedAt: Date
  /** The load average when the run started (machineInfo() at the end gives the one at its end). */
  loadAtStart: number[]
  servers: readonly { label: string; version: string; settings: unknown }[]
}) {
  return {
    benchmark: run.benchmark,
    schema: 1,
    command: run.command,
    startedAt: run.startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: { ...machineInfo(), loadavgAtStart: run.loadAtStart },
    programs: {
      root: programsRoot(),
      servers: run.servers.map((s) => ({ label: s.label, version: s.version, settings: s.settings })),
    },
  }
}
