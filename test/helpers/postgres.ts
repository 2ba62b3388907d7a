/**
 * A private PostgreSQL 15 for a test: `initdb` and `pg_ctl` run as the `postgres` user (initdb refuses root) in a
 * temporary folder, on a free loopback port with its socket in that folder, fsync off. Never the system service;
 * `stop()` stops and removes only this instance. Debian's binaries come from `scripts/postgres.sh install`.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './network.ts'
import type { Availability } from './requires.ts'
import { describeWhenAvailable } from './requires.ts'

export const PG_BIN = '/usr/lib/postgresql/15/bin'

export interface Postgres {
  /** `postgres://wharf@127.0.0.1:<port>/postgres` */
  url: string
  port: number
  /** A connection URL for another database of this instance, created on first use. */
  database(name: string): Promise<string>
  stop(): Promise<void>
}

export function postgresAvailable(): Availability {
  for (const b of ['initdb', 'pg_ctl', 'postgres'])
    if (!existsSync(join(PG_BIN, b)))
      return { ok: false, reason: `${PG_BIN}/${b} not found: run sudo bash scripts/postgres.sh install` }
  if (spawnSync('id', ['-u', 'postgres']).status !== 0) return { ok: false, reason: 'no postgres user on this machine' }
  if (process.getuid?.() !== 0)
    return { ok: false, reason: 'starting a private instance as the postgres user needs root (runuser)' }
  return { ok: true, value: undefined }
}

export function describeWithPostgres(name: string, body: () => void): void {
  describeWhenAvailable('PostgreSQL 15', postgresAvailable(), name, body)
}

function asPostgres(cmd: string, args: string[]): string {
  return execFileSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, cmd), ...args], {
    encoding: 'utf8',
    stdio: 'pipe',
  })
}

export async function startPostgres(): Promise<Postgres> {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-pg-'))
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
  chownSync(dir, uid, gid)
  const data = join(dir, 'data')
  // trust on loopback only: this instance lives as long as one test file, on a port nobody else knows
  asPostgres('initdb', ['-D', data, '-U', 'wharf', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C'])
  const port = await freePort()
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`
  asPostgres('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), '-w', '-t', '60', 'start'])
  const base = `postgres://wharf@127.0.0.1:${port}`
  const made = new Set<string>(['postgres'])
  return {
    url: `${base}/postgres`,
    port,
    async database(name) {
      if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new Error(`not a database name for tests: ${name}`)
      if (!made.has(name)) {
        const { default: pg } = await import('pg')
        const client = new pg.Client({ connectionString: `${base}/postgres` })
        await client.connect()
        try {
          await client.query(`CREATE DATABASE ${name}`)
        } finally {
          await client.end()
        }
        made.add(name)
      }
      return `${base}/${name}`
    },
    async stop() {
      try {
        asPostgres('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop'])
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  }
}
