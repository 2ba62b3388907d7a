import type { AccessStore, Role } from '../storage/access-store.ts'
import type { AccountsStore } from '../storage/accounts-store.ts'
import type { Metadata } from '../storage/metadata.ts'
import type { SettingsStore } from '../storage/settings-store.ts'

export type Action = 'pull' | 'push' | 'delete'
export const ALL_ACTIONS: readonly Action[] = ['pull', 'push', 'delete']

/** Who is calling, once credentials have been checked. */
export type Principal =
  | { kind: 'anonymous'; name: '' }
  | { kind: 'user'; name: string; id: number; isAdmin: boolean }
  | {
      kind: 'robot'
      name: string
      id: number
      namespace: string
      permissions: { repository: string; actions: string[] }[]
    }

export const ANONYMOUS: Principal = { kind: 'anonymous', name: '' }

export type UserPrincipal = Extract<Principal, { kind: 'user' }>

/**
 * How a caller proved who they are in this request: a password (basic auth, or the directory's), a web session
 * (which only a password starts), a personal access token, a robot secret, or nothing at all.
 */
export type CredentialKind = 'password' | 'session' | 'personal_token' | 'robot' | 'none'

/** Who is asking, how they proved it, and from where: what services need to decide and to record an event. */
export interface Caller {
  principal: Principal
  via: CredentialKind
  address: string
}

const ROLE_ACTIONS: Record<Role, Action[]> = {
  read: ['pull'],
  write: ['pull', 'push'],
  admin: ['pull', 'push', 'delete'],
}

export function namespaceOf(repository: string): string {
  return repository.split('/')[0]!
}

/**
 * The one place that decides what a principal may do. Tokens carry its answer (the requested scope intersected
 * with these actions), so the registry, the caches and the control plane never decide on their own.
 */
export class Permissions {
  readonly #accounts: AccountsStore
  readonly #access: AccessStore
  readonly #meta: Metadata
  readonly #settings: SettingsStore

  constructor(deps: { accounts: AccountsStore; access: AccessStore; meta: Metadata; settings: SettingsStore }) {
    this.#accounts = deps.accounts
    this.#access = deps.access
    this.#meta = deps.meta
    this.#settings = deps.settings
  }

  /** Actions the principal may take on a repository, which need not exist yet. */
  actions(p: Principal, repository: string): Set<Action> {
    const out = new Set<Action>()
    const repo = this.#meta.repository(repository)
    const ns = namespaceOf(repository)
    if (p.kind === 'robot') {
      for (const perm of p.permissions) {
        if (
          perm.repository === repository ||
          (perm.repository.endsWith('/*') && repository.startsWith(perm.repository.slice(0, -1)))
        ) {
          for (const a of perm.actions) if ((ALL_ACTIONS as string[]).includes(a)) out.add(a as Action)
        }
      }
      // a robot never creates repositories
      if (!repo) out.delete('push')
      return out
    }
    if (repo?.visibility === 'public') out.add('pull')
    if (p.kind === 'anonymous') return out
    if (p.isAdmin || this.ownsNamespace(p, ns)) return new Set(ALL_ACTIONS)
    for (const role of this.#access.rolesFor(p.id, repository, ns)) for (const a of ROLE_ACTIONS[role]) out.add(a)
    // a repository that does not exist yet can only be created by someone who may write the whole namespace
    if (!repo && !this.#namespaceRoles(p.id, ns).some((r) => r !== 'read')) out.delete('push')
    return out
  }

  /** Whether the user is the namespace itself, or an owner of the organization it names. */
  ownsNamespace(p: Principal, namespace: string): boolean {
    if (p.kind !== 'user') return false
    if (p.isAdmin || p.name === namespace) return true
    const org = this.#accounts.byName(namespace)
    return org?.kind === 'org' && this.#accounts.membership(org.id, p.id) === 'owner'
  }

  /** May change the namespace's repositories, teams, grants and robots. */
  canAdminNamespace(p: Principal, namespace: string): boolean {
    if (p.kind !== 'user') return false
    return this.ownsNamespace(p, namespace) || this.#namespaceRoles(p.id, namespace).includes('admin')
  }

  /** May change one repository's settings and grants. */
  canAdminRepository(p: Principal, repository: string): boolean {
    if (p.kind !== 'user') return false
    if (this.canAdminNamespace(p, namespaceOf(repository))) return true
    return this.#access.rolesFor(p.id, repository, namespaceOf(repository)).includes('admin')
  }

  /** A system administrator. */
  isAdmin(p: Principal): p is UserPrincipal & { isAdmin: true } {
    return p.kind === 'user' && p.isAdmin
  }

  /** May see an account's private fields (email) and change it, its password and its tokens: itself, or an admin. */
  canManageAccount(p: Principal, accountId: number): boolean {
    return p.kind === 'user' && (p.isAdmin || p.id === accountId)
  }

  /** May see an organization's members and teams: its members and admins. */
  canViewOrg(p: Principal, orgId: number): boolean {
    return p.kind === 'user' && (p.isAdmin || this.#accounts.membership(orgId, p.id) !== undefined)
  }

  /** May create a repository that does not exist yet: whoever owns, or may write, the whole namespace. */
  canCreateRepository(p: Principal, namespace: string): boolean {
    if (p.kind !== 'user') return false
    return this.ownsNamespace(p, namespace) || this.#namespaceRoles(p.id, namespace).some((r) => r !== 'read')
  }

  /** Sees the repository at all (in lists, by name): it is public, or the principal holds some action on it. */
  canSeeRepository(p: Principal, repository: string): boolean {
    return this.actions(p, repository).size > 0
  }

  /** May give and take roles on a whole namespace: its owners (organization owners, admins). */
  canGrantOnNamespace(p: Principal, namespace: string): boolean {
    return this.ownsNamespace(p, namespace)
  }

  /** May read events whose actor is `actor` (undefined: every actor): admins read all, users their own. */
  canReadEvents(p: Principal, actor: string | undefined): boolean {
    if (p.kind !== 'user') return false
    return p.isAdmin || actor === p.name
  }

  /** Whether pushes may create repositories that do not exist (`createRepositoryOnPush`, default true). */
  createOnPush(): boolean {
    return this.#settings.get<boolean>('createRepositoryOnPush') ?? true
  }

  #namespaceRoles(userId: number, ns: string): Role[] {
    return this.#access.namespaceRolesFor(userId, ns)
  }
}
