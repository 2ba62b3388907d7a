import type { Actor } from '../services/events.ts'
export type RepositoryAction = 'pull' | 'push' | 'delete'

/** What a request needs: actions on one repository, or the catalog. */
export type AccessNeed =
  | { type: 'repository'; name: string; actions: RepositoryAction[] }
  | { type: 'registry'; name: 'catalog'; actions: ['*'] }

/** Who is calling. `subject` is '' for an anonymous caller. */
export interface Principal {
  subject: string
  /** Whom events are attributed to (by id); its name is recorded as pusher and creator on what this caller writes. */
  actor: Actor
}

/**
 * The one place access is decided. Routes state what they need; the controller answers with the caller or throws
 * the OciError the client must see (UNAUTHORIZED with a challenge, DENIED).
 */
export interface AccessController {
  /** Resolves the caller and checks every need; throws UNAUTHORIZED or DENIED otherwise. */
  authorize(req: Request, needs: AccessNeed[]): Promise<Principal>
  /** Whether the caller holds a need, without throwing (a mount's optional `from`). */
  allows(req: Request, need: AccessNeed): Promise<boolean>
}
