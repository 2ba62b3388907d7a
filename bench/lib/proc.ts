/**
 * Memory and CPU of another process, read from Linux's /proc. The sampler polls VmRSS about every 100 ms and
 * also resets and reads the kernel's own high-water mark (VmHWM), so a peak that lasts less than one sampling
 * interval is still seen.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { MB, round } from './units.ts'

export interface ProcMemory {
  /** Resident set size now, bytes. */
  rss: number
  /** Peak resident set size since start or since the last resetPeakRss(), bytes. */
  hwm: number
}

/** VmRSS and VmHWM of a live process; throws if it is gone. */
export async function readProcMemory(pid: number): Promise<ProcMemory> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)
    if (!m) throw new Error(`/proc/${pid}/status has no ${key} line`)
    return Number(m[1]) * 1024
  }
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') }
}

/** Linux's USER_HZ, the unit of utime/stime in /proc/PID/stat; 100 on every architecture Node runs on here. */
const CLOCK_TICKS_PER_SECOND = 100

export interface ProcCpu {
  /** User-mode CPU seconds, all threads. */
  user: number
  /** Kernel-mode CPU seconds (syscalls: socket and file copies, fsync), all threads. */
  system: number
}

/** CPU seconds the process has used so far (all its threads, not its children). */
export async function readProcCpu(pid: number): Promise<ProcCpu> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  // the command name (field 2) is in parentheses and may hold spaces: split after its closing one
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state), so utime (14) and stime (15) are at 11 and 12
  return { user: Number(fields[11]) / CLOCK_TICKS_PER_SECOND, system: Number(fields[12]) / CLOCK_TICKS_PER_SECOND }
}

/** User + system CPU seconds the process has used so far. */
export async function readProcCpuSeconds(pid: number): Promise<number> {
  const cpu = await readProcCpu(pid)
  return cpu.user + cpu.system
}

/** Resets the process's VmHWM to its current RSS (`echo 5 > /proc/PID/clear_refs`); false if not permitted. */
export async function resetPeakRss(pid: number): Promise<boolean> {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

export interface RssReport {
  /** VmRSS when sampling started, MB. */
  startRssMB: number
  /** VmRSS when sampling stopped, MB. */
  endRssMB: number
  /** Highest VmRSS of the polls, MB. */
  maxSampledRssMB: number
  /** VmHWM when sampling stopped, MB: the peak since the reset at start (or over the process's life, see hwmReset). */
  hwmMB: number
  /** Whether VmHWM was reset at start. If not, hwmMB is the lifetime peak and peakRssMB ignores it. */
  hwmReset: boolean
  /** The peak over the sampled period, MB: max(polls, VmHWM) when VmHWM was reset, the polls alone otherwise. */
  peakRssMB: number
  /** CPU seconds (user + system) the process used while sampling, and the split. */
  cpuSeconds: number
  cpuUserSeconds: number
  cpuSystemSeconds: number
  samples: number
  intervalMs: number
}

/**
 * Samples a process's memory until stop() is called. One poll at a time (no overlapping reads); the loop ends at
 * stop() or when the process disappears.
 */
export class RssSampler {
  readonly pid: number
  readonly intervalMs: number
  #running = true
  #loop: Promise<void> = Promise.resolve()
  #maxRss = 0
  #samples = 0
  #hwmReset = false
  #start: ProcMemory = { rss: 0, hwm: 0 }
  #cpu0: ProcCpu = { user: 0, system: 0 }

  private constructor(pid: number, intervalMs: number) {
    this.pid = pid
    this.intervalMs = intervalMs
  }

  static async start(pid: number, opts: { intervalMs?: number; resetPeak?: boolean } = {}): Promise<RssSampler> {
    const s = new RssSampler(pid, opts.intervalMs ?? 100)
    s.#hwmReset = opts.resetPeak === false ? false : await resetPeakRss(pid)
    s.#start = await readProcMemory(pid)
    s.#cpu0 = await readProcCpu(pid)
    s.#maxRss = s.#start.rss
    s.#samples = 1
    s.#loop = s.#poll()
    return s
  }

  async #poll(): Promise<void> {
    while (this.#running) {
      await sleep(this.intervalMs)
      if (!this.#running) break
      try {
        const m = await readProcMemory(this.pid)
        this.#maxRss = Math.max(this.#maxRss, m.rss)
        this.#samples++
      } catch {
        break // the process exited; stop() reports what was seen
      }
    }
  }

  async stop(): Promise<RssReport> {
    this.#running = false
    await this.#loop
    const end = await readProcMemory(this.pid)
    const cpu = await readProcCpu(this.pid)
    const user = cpu.user - this.#cpu0.user
    const system = cpu.system - this.#cpu0.system
    this.#maxRss = Math.max(this.#maxRss, end.rss)
    this.#samples++
    const peak = this.#hwmReset ? Math.max(this.#maxRss, end.hwm) : this.#maxRss
    return {
      startRssMB: round(this.#start.rss / MB),
      endRssMB: round(end.rss / MB),
      maxSampledRssMB: round(this.#maxRss / MB),
      hwmMB: round(end.hwm / MB),
      hwmReset: this.#hwmReset,
      peakRssMB: round(peak / MB),
      cpuSeconds: round(user + system, 2),
      cpuUserSeconds: round(user, 2),
      cpuSystemSeconds: round(system, 2),
      samples: this.#samples,
      intervalMs: this.intervalMs,
    }
  }
}

/** Samples `pid` while `fn` runs; the sampler is stopped even if `fn` throws. */
export async function withRssSampling<T>(
  pid: number,
  fn: () => Promise<T>,
  opts: { intervalMs?: number; resetPeak?: boolean } = {},
): Promise<{ value: T; rss: RssReport }> {
  const sampler = await RssSampler.start(pid, opts)
  let value: T
  try {
    value = await fn()
  } catch (err) {
    await sampler.stop().catch(() => undefined)
    throw err
  }
  return { value, rss: await sampler.stop() }
}

/** Bytes a process passed to write-type syscalls (sockets included) and read from, per /proc/PID/io. */
export interface ProcIo {
  /** wchar: bytes written through write/send/sendfile/splice on any fd: for a server, what it sent. */
  wchar: number
  rchar: number
}

/**
 * /proc/PID/io of a live process (needs the same user or root). A registry that writes no logs while serving GETs
 * sends almost exactly its wchar delta over the network: that is how the bench counts what an origin sent.
 */
export async function readProcIo(pid: number): Promise<ProcIo> {
  const text = await readFile(`/proc/${pid}/io`, 'utf8')
  const num = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)
    if (!m) throw new Error(`/proc/${pid}/io has no ${key} line`)
    return Number(m[1])
  }
  return { wchar: num('wchar'), rchar: num('rchar') }
}

/**
 * Waits until a process has written nothing for `quietMs` (a pull-through proxy finishing its background fetch from
 * the origin, say), at most `timeoutMs`; returns whether it went quiet.
 */
export async function waitQuiet(pid: number, quietMs = 500, timeoutMs = 60_000, pollMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  let last = (await readProcIo(pid)).wchar
  let since = Date.now()
  while (Date.now() < deadline) {
    await sleep(pollMs)
    const now = (await readProcIo(pid)).wchar
    if (now !== last) {
      last = now
      since = Date.now()
    } else if (Date.now() - since >= quietMs) {
      return true
    }
  }
  return false
}

/** Open file descriptors of a process (entries of /proc/PID/fd; needs the same user or root). */
export async function countFds(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length
}

/** The soft limit on open files of a process ("Max open files" in /proc/PID/limits); undefined if unreadable. */
export async function openFileLimit(pid: number): Promise<number | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/limits`, 'utf8')
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(text)
    return m && m[1] !== 'unlimited' ? Number(m[1]) : undefined
  } catch {
    return undefined
  }
}

/** One reading of a process: resident memory, open descriptors and CPU seconds used so far. */
export interface ProcSample {
  /** Seconds since the series started. */
  t: number
  rssMB: number
  fds: number
  /** User + system CPU seconds since the process started. */
  cpuSeconds: number
}

/** Reads one ProcSample of `pid`; undefined once the process is gone. */
export async function sampleProc(pid: number, t: number): Promise<ProcSample | undefined> {
  try {
    const [mem, fds, cpu] = await Promise.all([readProcMemory(pid), countFds(pid), readProcCpu(pid)])
    return { t: round(t, 1), rssMB: round(mem.rss / MB), fds, cpuSeconds: round(cpu.user + cpu.system, 2) }
  } catch {
    return undefined
  }
}

/**
 * Connections waiting to be accepted on a listening TCP port (the Recv-Q that `ss -ltn` shows): above zero, the
 * server is not keeping up with its clients' connects. Reads /proc/net/tcp and tcp6; undefined when not found.
 */
export async function acceptBacklog(port: number): Promise<number | undefined> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  let found: number | undefined
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '')
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      // f[1] local address:port, f[3] state (0A = LISTEN), f[4] tx_queue:rx_queue
      if (f.length < 5 || f[3] !== '0A' || !f[1]!.endsWith(`:${hexPort}`)) continue
      found = (found ?? 0) + parseInt(f[4]!.split(':')[1]!, 16)
    }
  }
  return found
}
