import type { Statement } from 'better-sqlite3'
import type { Db } from './db.ts'
import { escapeLike } from './sql.ts'

/** Who did it: an account (user) or robot by id, an anonymous caller, or Wharf itself (`system`, `ldap`). */
export type ActorKind = 'user' | 'robot' | 'anonymous' | 'system'

export interface EventRecord {
  id: number
  at: number
  /** The actor's name when the event happened: for reading, never for deciding who may see it. */
  actor: string
  actorKind: ActorKind
  /** The account's or robot's id (ids are never reused); null for anonymous callers and the system. */
  actorId: number | null
  action: string
  targetType: string
  target: string
  address: string | null
  outcome: 'success' | 'failure'
  detail: Record<string, unknown> | null
}

export interface EventFilter {
  actor?: string
  /** Only the events of this user account, by id. */
  actorUserId?: number
  action?: string
  targetType?: string
  /** Exact target, or a prefix when it ends with `*`. */
  target?: string
  since?: number
  until?: number
  /** What happened to one repository: the repository itself, and its tags, manifests and blobs. */
  repository?: string
  /** Events with an id below this one (paging backwards from the newest). */
  before?: number
  limit: number
}

/** The audit trail: who did what to what, when, from where. */
export class EventsStore {
  readonly #db: Db
  readonly #insert: Statement

  constructor(db: Db) {
    this.#db = db
    this.#insert =
      db.prepare(`INSERT INTO events (at, actor, actor_kind, actor_id, action, target_type, target, address, outcome, detail)
                                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
  }

  insert(e: Omit<EventRecord, 'id'>): void {
    this.#insert.run(
      e.at,
      e.actor,
      e.actorKind,
      e.actorId,
      e.action,
      e.targetType,
      e.target,
      e.address,
      e.outcome,
      e.detail ? JSON.stringify(e.detail) : null,
    )
  }

  /** Newest first. The filter builds the WHERE clause from fixed fragments; values are always bound. */
  list(f: EventFilter): EventRecord[] {
    const where: string[] = []
    const args: (string | number)[] = []
    const add = (clause: string, value: string | number) => {
      where.push(clause)
      args.push(value)
    }
    if (f.actor !== undefined) add('actor = ?', f.actor)
    if (f.actorUserId !== undefined) {
      where.push("actor_kind = 'user'")
      add('actor_id = ?', f.actorUserId)
    }
    if (f.action !== undefined) add('action = ?', f.action)
    if (f.targetType !== undefined) add('target_type = ?', f.targetType)
    if (f.target !== undefined) {
      if (f.target.endsWith('*')) add(`target LIKE ? ESCAPE '\\'`, `${escapeLike(f.target.slice(0, -1))}%`)
      else add('target = ?', f.target)
    }
    if (f.repository !== undefined) {
      const name = escapeLike(f.repository)
      where.push(`(target = ? OR target LIKE ? ESCAPE '\\' OR target LIKE ? ESCAPE '\\')`)
      args.push(f.repository, `${name}:%`, `${name}@%`)
    }
    if (f.since !== undefined) add('at >= ?', f.since)
    if (f.until !== undefined) add('at < ?', f.until)
    if (f.before !== undefined) add('id < ?', f.before)
    const sql = `SELECT id, at, actor, actor_kind AS actorKind, actor_id AS actorId, action, target_type AS targetType, target, address, outcome, detail FROM events
                 ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`
    const rows = this.#db.prepare(sql).all(...args, f.limit) as (Omit<EventRecord, 'detail'> & {
      detail: string | null
    })[]
    return rows.map((r) => ({ ...r, detail: r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : null }))
  }
}
