import type { CredentialKind, Principal } from '../services/permissions.ts'
import type { AppEnv } from '../http/env.ts'

/** Hono environment of the web UI's routes. */
export interface UiEnv extends AppEnv {
  Variables: AppEnv['Variables'] & {
    principal: Principal
    via: CredentialKind
    /** This browser's CSRF token, put into every form. */
    csrf: string
    /** The origin's public URL origin (behind a proxy it differs from the request's). */
    publicOrigin: string
  }
}
