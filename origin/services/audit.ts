import type { ActorKind, EventFilter, EventRecord } from '../storage/events-store.ts'
import { allow, iso, signedIn, type Page } from './common.ts'
import type { Events } from './events.ts'
import type { Caller, Permissions } from './permissions.ts'

export interface EventView {
  id: number
  at: string
  actor: string
  actorKind: ActorKind
  actorId: number | null
  action: string
  targetType: string
  target: string
  address: string | null
  outcome: 'success' | 'failure'
  detail: Record<string, unknown> | null
}

/**
 * Reading the event log: admins read everything, other users the events they were the actor of, matched by account
 * id: an account that takes a deleted account's name (or a system name) sees nothing of what that one did.
 */
export class AuditLog {
  readonly #events: Events
  readonly #permissions: Permissions

  constructor(deps: { events: Events; permissions: Permissions }) {
    this.#events = deps.events
    this.#permissions = deps.permissions
  }

  /** Newest first; `next` is the `before` cursor of the following page. */
  list(caller: Caller, filter: EventFilter): Page<EventView> {
    const p = signedIn(caller)
    const actor = filter.actor ?? (this.#permissions.isAdmin(p) ? undefined : p.name)
    allow(
      this.#permissions.canReadEvents(p, actor),
      'you may read only your own events (leave out actor, or give your name)',
    )
    const own = this.#permissions.isAdmin(p) ? {} : { actorUserId: p.id }
    const rows = this.#events.list({ ...filter, actor, ...own, limit: filter.limit + 1 })
    const items = rows.slice(0, filter.limit)
    return { items: items.map(view), next: rows.length > filter.limit ? String(items.at(-1)!.id) : null }
  }
}

function view(e: EventRecord): EventView {
  return { ...e, at: iso(e.at) }
}
