import type Database from 'better-sqlite3'
import type { Db } from './db.ts'
import type { HealthState } from './sites-store.ts'

export interface HealthEvent {
  state: HealthState
  at: number
  reason: string
}

/** History rows kept per site; older ones are dropped as new ones arrive. */
export const HISTORY_PER_SITE = 1000

/** Each site's health changes, newest last in the table, capped per site. */
export class HealthStore {
  readonly #insert: Database.Statement<[string, string, number, string]>
  readonly #trim: Database.Statement<[string, string, number]>
  readonly #list: Database.Statement<[string, number], HealthEvent>

  constructor(db: Db) {
    this.#insert = db.prepare('INSERT INTO health_history (site_id, state, at, reason) VALUES (?, ?, ?, ?)')
    this.#trim = db.prepare(`DELETE FROM health_history WHERE site_id = ? AND id <= (
      SELECT id FROM health_history WHERE site_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`)
    this.#list = db.prepare('SELECT state, at, reason FROM health_history WHERE site_id = ? ORDER BY id DESC LIMIT ?')
  }

  /** Appends a change and drops what exceeds the cap. */
  add(siteId: string, e: HealthEvent): void {
    this.#insert.run(siteId, e.state, e.at, e.reason)
    this.#trim.run(siteId, siteId, HISTORY_PER_SITE)
  }

  /** Newest first. */
  list(siteId: string, limit = HISTORY_PER_SITE): HealthEvent[] {
    return this.#list.all(siteId, limit)
  }
}
