import type Database from 'better-sqlite3'
import type { Db } from './db.ts'

/** An admin-defined network with a location, for addresses the IP database cannot place. */
export interface NetworkRecord {
  id: string
  cidr: string
  latitude: number
  longitude: number
  label: string | null
}

export class NetworksStore {
  readonly #list: Database.Statement<[], NetworkRecord>
  readonly #insert: Database.Statement<[string, string, number, number, string | null, number]>
  readonly #delete: Database.Statement<[string]>

  constructor(db: Db) {
    this.#list = db.prepare('SELECT id, cidr, latitude, longitude, label FROM networks ORDER BY created_at, id')
    this.#insert = db.prepare(
      'INSERT INTO networks (id, cidr, latitude, longitude, label, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    )
    this.#delete = db.prepare('DELETE FROM networks WHERE id = ?')
  }

  list(): NetworkRecord[] {
    return this.#list.all()
  }

  insert(n: NetworkRecord, now: number): void {
    this.#insert.run(n.id, n.cidr, n.latitude, n.longitude, n.label, now)
  }

  delete(id: string): boolean {
    return this.#delete.run(id).changes > 0
  }
}
