import type Database from 'better-sqlite3'
import type { Db } from './db.ts'

export type AssignmentKind = 'user' | 'team' | 'org'

export interface AssignmentRecord {
  kind: AssignmentKind
  subject: string
  siteId: string
}

/** Explicit settings: this user, team or organization is served by that site. */
export class AssignmentsStore {
  readonly #list: Database.Statement<[], AssignmentRecord>
  readonly #get: Database.Statement<[string, string], AssignmentRecord>
  readonly #put: Database.Statement<[string, string, string, number]>
  readonly #delete: Database.Statement<[string, string]>

  constructor(db: Db) {
    this.#list = db.prepare('SELECT kind, subject, site_id AS siteId FROM assignments ORDER BY kind, subject')
    this.#get = db.prepare('SELECT kind, subject, site_id AS siteId FROM assignments WHERE kind = ? AND subject = ?')
    this.#put = db.prepare(`INSERT INTO assignments (kind, subject, site_id, created_at) VALUES (?, ?, ?, ?)
      ON CONFLICT(kind, subject) DO UPDATE SET site_id = excluded.site_id`)
    this.#delete = db.prepare('DELETE FROM assignments WHERE kind = ? AND subject = ?')
  }

  list(): AssignmentRecord[] {
    return this.#list.all()
  }

  get(kind: AssignmentKind, subject: string): AssignmentRecord | undefined {
    return this.#get.get(kind, subject)
  }

  put(a: AssignmentRecord, now: number): void {
    this.#put.run(a.kind, a.subject, a.siteId, now)
  }

  delete(kind: AssignmentKind, subject: string): boolean {
    return this.#delete.run(kind, subject).changes > 0
  }
}
