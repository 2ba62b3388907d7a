import type { Logger } from 'pino'
import type { ActorKind, EventFilter, EventRecord, EventsStore } from '../storage/events-store.ts'
import type { Principal } from './permissions.ts'

/** Who an event is attributed to: by id for accounts and robots, never by a name that could be registered again. */
export interface Actor {
  kind: ActorKind
  id: number | null
  name: string
}

/** Names Wharf records as the actor of what it does itself. */
export type SystemActorName = 'system' | 'ldap' | 'schedule'

export function systemActor(name: SystemActorName): Actor {
  return { kind: 'system', id: null, name }
}

export const ANONYMOUS_ACTOR: Actor = { kind: 'anonymous', id: null, name: 'anonymous' }

/** The actor of what a principal does. */
export function actorOf(p: Principal): Actor {
  if (p.kind === 'anonymous') return ANONYMOUS_ACTOR
  return { kind: p.kind, id: p.id, name: p.name }
}

export interface NewEvent {
  actor: Actor
  action: string
  targetType: string
  target: string
  address?: string | null
  outcome?: 'success' | 'failure'
  detail?: Record<string, unknown> | null
}

/**
 * Records what happened: logins, tokens, pushes, pulls, deletes, repository, grant and membership changes.
 * Callers never pass secrets; `detail` holds names, scopes and reasons only.
 */
export class Events {
  readonly #store: EventsStore
  readonly #now: () => number
  readonly #log: Logger
  /** Called with every event recorded (metrics count failed logins). */
  readonly observers: ((e: NewEvent) => void)[] = []

  constructor(store: EventsStore, now: () => number, log: Logger) {
    this.#store = store
    this.#now = now
    this.#log = log
  }

  record(e: NewEvent): void {
    for (const observe of this.observers) observe(e)
    try {
      this.#store.insert({
        at: this.#now(),
        actor: e.actor.name || 'anonymous',
        actorKind: e.actor.kind,
        actorId: e.actor.id,
        action: e.action,
        targetType: e.targetType,
        target: e.target,
        address: e.address ?? null,
        outcome: e.outcome ?? 'success',
        detail: e.detail ?? null,
      })
    } catch (err) {
      // an audit write that fails must not fail the request it describes; it is logged loudly instead
      this.#log.error({ err, action: e.action, target: e.target }, 'could not record event')
    }
  }

  list(filter: EventFilter): EventRecord[] {
    return this.#store.list(filter)
  }
}
