import type { ActorKind, EventFilter, EventRecord } from '../storage/events-store.ts'
import { allow, iso, signedIn, type Page } from './common.ts'
import type { Events } from './events.ts'
import type { Caller, Permissions } from './permissions.ts'
import type { RepositoriesService } from './repositories.ts'

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

  readonly #repositories: Pick<RepositoriesService, 'visible'>

  constructor(deps: { events: Events; permissions: Permissions; repositories: Pick<RepositoriesService, 'visible'> }) {
    this.#events = deps.events
    this.#permissions = deps.permissions
    this.#repositories = deps.repositories
  }

  /**
   * What happened to a repository (pushes, pulls, deletes, tag moves, its settings and grants), newest first, for
   * signed-in users who may see it. Addresses are shown to the repository's admins only.
   */
  repository(
    caller: Caller,
    repository: string,
    filter: Omit<EventFilter, 'repository' | 'actorUserId'>,
  ): Page<EventView> {
    const p = signedIn(caller)
    this.#repositories.visible(p, repository)
    const admin = this.#permissions.canAdminRepository(p, repository)
    const rows = this.#events.list({ ...filter, repository, limit: filter.limit + 1 })
    const items = rows.slice(0, filter.limit).map((e) => (admin ? view(e) : { ...view(e), address: null }))
    return { items, next: rows.length > filter.limit ? String(rows[filter.limit - 1]!.id) : null }
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
