import type Database from 'better-sqlite3'
import type { Db } from './db.ts'

export interface JoinTokenRecord {
  id: string
  secretHash: string
  siteId: string | null
  expiresAt: number
  usesLeft: number
  createdAt: number
}

interface Row {
  id: string
  secret_hash: string
  site_id: string | null
  expires_at: number
  uses_left: number
  created_at: number
}

const toRecord = (r: Row): JoinTokenRecord => ({
  id: r.id,
  secretHash: r.secret_hash,
  siteId: r.site_id,
  expiresAt: r.expires_at,
  usesLeft: r.uses_left,
  createdAt: r.created_at,
})

/** Join tokens: only the hash of the secret is kept; revoking deletes the row. */
export class JoinTokensStore {
  readonly #insert: Database.Statement<[string, string, string | null, number, number, number]>
  readonly #get: Database.Statement<[string], Row>
  readonly #list: Database.Statement<[], Row>
  readonly #delete: Database.Statement<[string]>
  readonly #use: Database.Statement<[string, number]>

  constructor(db: Db) {
    this.#insert = db.prepare(
      'INSERT INTO join_tokens (id, secret_hash, site_id, expires_at, uses_left, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    )
    this.#get = db.prepare('SELECT * FROM join_tokens WHERE id = ?')
    this.#list = db.prepare('SELECT * FROM join_tokens ORDER BY created_at, id')
    this.#delete = db.prepare('DELETE FROM join_tokens WHERE id = ?')
    this.#use = db.prepare('UPDATE join_tokens SET uses_left = uses_left - 1 WHERE id = ? AND uses_left > 0 AND expires_at > ?')
  }

  insert(t: JoinTokenRecord): void {
    this.#insert.run(t.id, t.secretHash, t.siteId, t.expiresAt, t.usesLeft, t.createdAt)
  }

  get(id: string): JoinTokenRecord | undefined {
    const r = this.#get.get(id)
    return r && toRecord(r)
  }

  list(): JoinTokenRecord[] {
    return this.#list.all().map(toRecord)
  }

  delete(id: string): boolean {
    return this.#delete.run(id).changes > 0
  }

  /** Takes one use, if the token has one left and has not expired at `now`; answers whether it did. */
  use(id: string, now: number): boolean {
    return this.#use.run(id, now).changes > 0
  }
}
