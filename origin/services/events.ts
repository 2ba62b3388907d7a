import type { Logger } from 'pino'
import type { EventFilter, EventRecord, EventsStore } from '../storage/events-store.ts'

export interface NewEvent {
  actor: string
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

  constructor(store: EventsStore, now: () => number, log: Logger) {
    this.#store = store
    this.#now = now
    this.#log = log
  }

  record(e: NewEvent): void {
    try {
      this.#store.insert({
        at: this.#now(),
        actor: e.actor || 'anonymous',
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
