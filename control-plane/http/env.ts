import type { HttpBindings } from '@hono/node-server'
import type { Logger } from 'pino'

/** Who a request comes from, as `authenticate` found it. */
export type Caller =
  | { kind: 'anonymous' }
  /** A valid origin token holding `controlplane:admin:*`. */
  | { kind: 'admin'; subject: string }
  /** The origin's own token, holding `controlplane:origin:*`. */
  | { kind: 'origin'; subject: string }
  /** A valid origin token holding neither role (an ordinary user). */
  | { kind: 'user'; subject: string }
  /** A cache node, by its site credential. */
  | { kind: 'site'; siteId: string }
  /** A join token, checked by the join itself. */
  | { kind: 'join'; token: string }

/** Hono environment shared by the control plane's routes. */
export interface AppEnv {
  Bindings: HttpBindings
  Variables: { log: Logger; requestId: string; caller: Caller }
}
