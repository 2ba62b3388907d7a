import BetterSqlite3 from 'better-sqlite3'
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type Migration } from 'kysely'
import pg from 'pg'

export type DialectName = 'sqlite' | 'postgres'

export interface OpenedDatabase<DB> {
  db: Kysely<DB>
  dialect: DialectName
  close(): Promise<void>
}

export interface OpenDatabaseOptions {
  /** `postgres://…` (or `postgresql://…`) for PostgreSQL; unset for the embedded SQLite file. */
  url?: string
  /** The SQLite file used when `url` is unset. */
  sqliteFile: string
  /** Migrations by name, applied in name order, each once (Kysely's own bookkeeping tables). */
  migrations: Record<string, Migration>
  /** Connections of the PostgreSQL pool (default 10). */
  poolSize?: number
}

// PostgreSQL's int8 (bigint: epoch-millisecond times, byte counts) comes back from pg as a string; these values
// stay below 2^53, so they are read as numbers, as SQLite gives them
const PG_INT8 = 20
const pgTypes = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') =>
    oid === PG_INT8 && format !== 'binary' ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format),
} as pg.CustomTypesConfig

/**
 * One query layer over both engines (the scale-out design): Kysely on better-sqlite3 for the embedded default and on
 * pg for PostgreSQL, brought up to date with one set of migrations. Queries are written once, in Kysely; columns
 * keep to what both engines read alike (integers for times, counts and flags, text for JSON).
 */
export async function openDatabase<DB>(opts: OpenDatabaseOptions): Promise<OpenedDatabase<DB>> {
  const postgres = opts.url !== undefined && /^postgres(?:ql)?:\/\//.test(opts.url)
  if (opts.url !== undefined && !postgres)
    throw new Error(`unsupported database URL ${opts.url.replace(/\/\/[^@/]*@/, '//…@')}: use postgres://`)
  let db: Kysely<DB>
  if (postgres) {
    const pool = new pg.Pool({ connectionString: opts.url, max: opts.poolSize ?? 10, types: pgTypes })
    db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) })
  } else {
    const file = new BetterSqlite3(opts.sqliteFile)
    file.pragma('journal_mode = WAL')
    // FULL: a commit is on disk before the client hears it
    file.pragma('synchronous = FULL')
    file.pragma('foreign_keys = ON')
    file.pragma('busy_timeout = 5000')
    db = new Kysely<DB>({ dialect: new SqliteDialect({ database: file }) })
  }
  const migrator = new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve(opts.migrations) },
  })
  const { error, results } = await migrator.migrateToLatest()
  if (error) {
    await db.destroy()
    const failed = results?.find((r) => r.status === 'Error')?.migrationName
    throw new Error(
      `database migration ${failed ?? ''} failed: ${(error as Error).message ?? String(error)}`.replace('  ', ' '),
    )
  }
  return { db, dialect: postgres ? 'postgres' : 'sqlite', close: () => db.destroy() }
}

/** Whether a query failed on a UNIQUE or PRIMARY KEY constraint, in either engine (a name taken, a row there). */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505'
}
