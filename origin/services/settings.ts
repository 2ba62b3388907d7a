import type { SettingsStore } from '../storage/settings-store.ts'
import { allow, requirePassword, audit, signedIn } from './common.ts'
import type { Events } from './events.ts'
import type { KeyRing } from './keys.ts'
import type { Caller, Permissions } from './permissions.ts'

/** Registry-wide settings changed at run time. */
export interface RegistrySettings {
  /**
   * When true (the default), a push to a repository that does not exist creates it, private, in the pusher's
   * namespace if they may write there; when false such a push is refused and the repository must be created first.
   */
  createRepositoryOnPush: boolean
}

export interface SettingsDeps {
  settings: SettingsStore
  permissions: Permissions
  keys: KeyRing
  events: Events
}

/** The admin-only `/meta` side of the API: registry settings and token-signing key rotation. */
export class SettingsService {
  readonly #d: SettingsDeps

  constructor(deps: SettingsDeps) {
    this.#d = deps
  }

  get(caller: Caller): RegistrySettings {
    this.#admin(caller)
    return this.#current()
  }

  update(caller: Caller, patch: Partial<RegistrySettings>): RegistrySettings {
    this.#admin(caller)
    const before = this.#current()
    const changes: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(patch)) {
      if (value === undefined || before[key as keyof RegistrySettings] === value) continue
      this.#d.settings.set(key, value)
      changes[key] = value
    }
    if (Object.keys(changes).length > 0)
      audit(this.#d.events, caller, 'settings.update', 'settings', 'registry', { changes })
    return this.#current()
  }

  /** A new token-signing key; the old one keeps verifying the tokens it signed until they expire. */
  async rotateKeys(caller: Caller): Promise<{ kid: string }> {
    this.#admin(caller)
    requirePassword(caller, 'rotating the signing keys')
    const kid = await this.#d.keys.rotate()
    audit(this.#d.events, caller, 'keys.rotate', 'key', kid)
    return { kid }
  }

  #current(): RegistrySettings {
    return { createRepositoryOnPush: this.#d.permissions.createOnPush() }
  }

  #admin(caller: Caller): void {
    allow(this.#d.permissions.isAdmin(signedIn(caller)), 'only system administrators see and change registry settings')
  }
}
