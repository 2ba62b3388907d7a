import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql, type ColumnType, type Kysely, type Migration } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeWithPostgres, startPostgres, type Postgres } from '../test/helpers/postgres.ts'
import { isUniqueViolation, openDatabase, type OpenedDatabase } from './database.ts'

interface Schema {
  // size has a default: optional on insert
  things: {
    id: string
    name: string
    created_at: number
    size: ColumnType<number, number | undefined>
    detail: string | null
  }
}

const MIGRATIONS: Record<string, Migration> = {
  '0001-things': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('things')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('detail', 'text')
        .execute()
    },
  },
}

/** What the query layer must do alike on both engines. */
function contract(name: string, open: () => Promise<OpenedDatabase<Schema>>) {
  describe(`${name} through lib/database.ts`, () => {
    let d: OpenedDatabase<Schema>
    beforeAll(async () => {
      d = await open()
    })
    afterAll(async () => {
      await d?.close()
    })

    it('reads epoch-millisecond times and byte counts back as numbers, JSON as text', async () => {
      const at = 1_796_424_625_123
      await d.db
        .insertInto('things')
        .values({ id: 'a', name: 'first', created_at: at, size: 2 ** 40, detail: JSON.stringify({ k: 1 }) })
        .execute()
      const row = await d.db.selectFrom('things').selectAll().where('id', '=', 'a').executeTakeFirstOrThrow()
      expect(row).toEqual({ id: 'a', name: 'first', created_at: at, size: 2 ** 40, detail: '{"k":1}' })
      expect(typeof row.created_at).toBe('number')
    })

    it('says a unique name is taken the same way in both engines', async () => {
      const err = await d.db
        .insertInto('things')
        .values({ id: 'b', name: 'first', created_at: 1, detail: null })
        .execute()
        .then(
          () => undefined,
          (e: unknown) => e,
        )
      expect(isUniqueViolation(err)).toBe(true)
      expect(isUniqueViolation(new Error('other'))).toBe(false)
    })

    it('rolls a failed transaction back whole', async () => {
      await expect(
        d.db.transaction().execute(async (tx) => {
          await tx.insertInto('things').values({ id: 'c', name: 'third', created_at: 3, detail: null }).execute()
          throw new Error('changed my mind')
        }),
      ).rejects.toThrow('changed my mind')
      expect(await d.db.selectFrom('things').select('id').where('id', '=', 'c').executeTakeFirst()).toBeUndefined()
    })

    it('knows the migrations it ran: opening again changes nothing', async () => {
      const again = await open()
      try {
        expect((await again.db.selectFrom('things').select('id').execute()).map((r) => r.id)).toEqual(['a'])
      } finally {
        await again.close()
      }
    })
  })
}

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-db-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

contract('SQLite', () => openDatabase<Schema>({ sqliteFile: join(dir, 'things.db'), migrations: MIGRATIONS }))

describeWithPostgres('PostgreSQL', () => {
  let server: Postgres
  let url: string
  beforeAll(async () => {
    server = await startPostgres()
    url = await server.database('things')
  })
  afterAll(async () => {
    await server?.stop()
  })
  contract('PostgreSQL', () => openDatabase<Schema>({ url, sqliteFile: '', migrations: MIGRATIONS }))

  it('names the migration that failed', async () => {
    const broken: Record<string, Migration> = {
      ...MIGRATIONS,
      '0002-broken': {
        up: (db: Kysely<unknown>) => sql`CREATE TABLE things (id text)`.execute(db).then(() => undefined),
      },
    }
    await expect(openDatabase({ url, sqliteFile: '', migrations: broken })).rejects.toThrow(/0002-broken failed/)
  })
})

it('refuses a database URL of another kind', async () => {
  await expect(openDatabase({ url: 'mysql://u:secret@h/db', sqliteFile: '', migrations: {} })).rejects.toThrow(
    /unsupported database URL mysql:\/\/…@h\/db/,
  )
})
