import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { MIGRATIONS, SCHEMA_VERSION, openDb } from './db.ts'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** A database file at schema version `version`, as an older Wharf left it. */
function databaseAt(version: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-db-'))
  dirs.push(dir)
  const file = join(dir, 'wharf.db')
  const db = new Database(file)
  for (let v = 0; v < version; v++) db.exec(MIGRATIONS[v]!)
  db.pragma(`user_version = ${version}`)
  db.close()
  return file
}

describe('migrations', () => {
  it('rebuild accounts, teams and robots keeping every id and every reference to them', () => {
    const file = databaseAt(3)
    const old = new Database(file)
    old.pragma('foreign_keys = ON')
    const now = Date.now()
    old
      .prepare(`INSERT INTO accounts (id, name, kind, created_at, updated_at) VALUES (7, 'acme', 'org', ?, ?)`)
      .run(now, now)
    old
      .prepare(
        `INSERT INTO accounts (id, name, kind, password_hash, created_at, updated_at) VALUES (9, 'alice', 'user', 'h', ?, ?)`,
      )
      .run(now, now)
    old.prepare('INSERT INTO org_members (org_id, user_id, is_owner) VALUES (7, 9, 1)').run()
    old.prepare(`INSERT INTO teams (id, org_id, name, created_at) VALUES (4, 7, 'devs', ?)`).run(now)
    old.prepare('INSERT INTO team_members (team_id, user_id) VALUES (4, 9)').run()
    old
      .prepare(
        `INSERT INTO access_tokens (id, user_id, name, secret_hash, kind, created_at) VALUES ('t1', 9, 'ci', 'x', 'personal', ?)`,
      )
      .run(now)
    old
      .prepare(
        `INSERT INTO robots (id, name, namespace, secret_hash, created_at, created_by) VALUES (3, 'robot$acme+ci', 'acme', 'x', ?, 'alice')`,
      )
      .run(now)
    old.prepare(`INSERT INTO robot_permissions (robot_id, repository, actions) VALUES (3, 'acme/app', 'pull')`).run()
    old
      .prepare(
        `INSERT INTO events (at, actor, action, target_type, target) VALUES (?, 'alice', 'push', 'manifest', 'acme/app:v1')`,
      )
      .run(now)
    old
      .prepare(
        `INSERT INTO events (at, actor, action, target_type, target) VALUES (?, 'anonymous', 'pull', 'manifest', 'acme/app:v1')`,
      )
      .run(now)
    old.close()

    const db = openDb(file)
    try {
      expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION)
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1)
      expect(db.prepare('SELECT id, name FROM accounts ORDER BY id').all()).toEqual([
        { id: 7, name: 'acme' },
        { id: 9, name: 'alice' },
      ])
      expect(db.prepare('SELECT COUNT(*) AS n FROM org_members').get()).toEqual({ n: 1 })
      expect(db.prepare('SELECT COUNT(*) AS n FROM team_members').get()).toEqual({ n: 1 })
      expect(db.prepare('SELECT COUNT(*) AS n FROM access_tokens').get()).toEqual({ n: 1 })
      expect(db.prepare('SELECT COUNT(*) AS n FROM robot_permissions').get()).toEqual({ n: 1 })
      // old events keep their names but belong to no id: only admins see them
      expect(db.prepare('SELECT actor, actor_kind AS kind, actor_id AS id FROM events ORDER BY id').all()).toEqual([
        { actor: 'alice', kind: 'user', id: null },
        { actor: 'anonymous', kind: 'anonymous', id: null },
      ])
      // the references still cascade after the rebuild, and a deleted newest id is not handed out again
      db.prepare('DELETE FROM accounts WHERE id = 9').run()
      expect(db.prepare('SELECT COUNT(*) AS n FROM org_members').get()).toEqual({ n: 0 })
      expect(db.prepare('SELECT COUNT(*) AS n FROM access_tokens').get()).toEqual({ n: 0 })
      const next = db
        .prepare(`INSERT INTO accounts (name, kind, created_at, updated_at) VALUES ('alice', 'user', 1, 1)`)
        .run()
      expect(Number(next.lastInsertRowid)).toBe(10)
      db.prepare('DELETE FROM robots WHERE id = 3').run()
      expect(db.prepare('SELECT COUNT(*) AS n FROM robot_permissions').get()).toEqual({ n: 0 })
    } finally {
      db.close()
    }
  })
})
