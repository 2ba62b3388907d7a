import type { HttpBindings } from '@hono/node-server'
import type { Logger } from 'pino'

/** Hono environment shared by the origin's routes. */
export interface AppEnv {
  Bindings: HttpBindings
  Variables: {
    log: Logger
    requestId: string
    /** The client's address (X-Forwarded-For from trusted proxies, else the peer); see client-address.ts. */
    clientAddress: string
    /** Set when a blob GET was redirected to a cache site: the site's name, for the request log line. */
    redirect: string
  }
}
