import type { Statement } from 'better-sqlite3'
import type { Db } from './db.ts'

/** Key → JSON value settings changed at run time through the API. */
export class SettingsStore {
  readonly #get: Statement
  readonly #set: Statement

  constructor(db: Db) {
    this.#get = db.prepare('SELECT value FROM settings WHERE key = ?').pluck()
    this.#set = db.prepare(
      'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    )
  }

  get<T>(key: string): T | undefined {
    const v = this.#get.get(key) as string | undefined
    return v === undefined ? undefined : (JSON.parse(v) as T)
  }

  set(key: string, value: unknown): void {
    this.#set.run(key, JSON.stringify(value))
  }
}
