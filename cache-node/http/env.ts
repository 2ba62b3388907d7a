import type { HttpBindings } from '@hono/node-server'
import type { Logger } from 'pino'
import type { CacheOutcome } from '../metrics.ts'

/** What a request served: the kind of content, from which repository, and how the cache answered. */
export interface ServedInfo {
  kind?: 'blob' | 'manifest' | 'tags' | 'referrers'
  /** The repository as the client named it. */
  repository?: string
  /** The upstream's URL origin. */
  upstream?: string
  cache?: CacheOutcome
  /** Body bytes sent to the client. */
  bytes: number
  /** The request carried a blob grant (`?grant=`) instead of a token. */
  grant?: boolean
}

/** Hono environment shared by the cache node's routes. */
export interface AppEnv {
  Bindings: HttpBindings
  Variables: { log: Logger; requestId: string; served: ServedInfo }
}
