import type { HttpBindings } from '@hono/node-server'
import type { Logger } from 'pino'

/** Hono environment shared by the origin's routes. */
export interface AppEnv {
  Bindings: HttpBindings
  Variables: { log: Logger; reqId: string }
}
