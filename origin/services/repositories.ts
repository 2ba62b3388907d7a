import { isValidName } from '../../oci/reference.ts'
import { ApiError } from '../../lib/api-error.ts'
import type { AccessStore } from '../storage/access-store.ts'
import type { AccountsStore } from '../storage/accounts-store.ts'
import type { Metadata, RepositoryRow } from '../storage/metadata.ts'
import { allow, audit, iso, signedIn, type Page } from './common.ts'
import type { Events } from './events.ts'
import { namespaceOf, type Action, type Caller, type Permissions, type Principal } from './permissions.ts'

export type Visibility = 'private' | 'public'

export interface RepositoryView {
  name: string
  namespace: string
  visibility: Visibility
  description: string
  /** Markdown. */
  longDescription: string
  tagCount: number
  createdAt: string
  createdBy: string
  /** What the caller may do with it. */
  actions: Action[]
}

export interface RepositoriesDeps {
  meta: Metadata
  accounts: AccountsStore
  access: AccessStore
  permissions: Permissions
  events: Events
  now: () => number
}

// rows read per query while filtering a listing down to what the caller may see
const SCAN_BATCH = 200

/** Repositories as the API manages them: listing what the caller may see, creating, changing visibility, deleting. */
export class RepositoriesService {
  readonly #d: RepositoriesDeps

  constructor(deps: RepositoriesDeps) {
    this.#d = deps
  }

  /** Repositories the caller may see (public ones, and private ones they hold some access to), in name order. */
  list(caller: Caller, namespace: string | undefined, last: string, limit: number): Page<RepositoryView> {
    const p = caller.principal
    const visible: RepositoryRow[] = []
    let cursor = last
    // a page is filled by scanning forward: private repositories the caller cannot see are skipped, never counted
    for (;;) {
      const rows = this.#d.meta.repositoryRows(cursor, SCAN_BATCH, namespace)
      for (const r of rows) {
        if (this.#d.permissions.canSeeRepository(p, r.name)) visible.push(r)
        if (visible.length > limit) break
      }
      if (visible.length > limit || rows.length < SCAN_BATCH) break
      cursor = rows.at(-1)!.name
    }
    const items = visible.slice(0, limit)
    return { items: items.map((r) => this.#view(p, r)), next: visible.length > limit ? items.at(-1)!.name : null }
  }

  get(caller: Caller, name: string): RepositoryView {
    return this.#view(caller.principal, this.visible(caller.principal, name))
  }

  /** Creates an empty repository in a user's or organization's namespace; private unless asked otherwise. */
  create(
    caller: Caller,
    input: { name: string; visibility?: Visibility; description?: string; longDescription?: string },
  ): RepositoryView {
    const p = signedIn(caller)
    const name = input.name
    if (!isValidName(name) || !name.includes('/')) {
      throw new ApiError(
        'BAD_REQUEST',
        `invalid repository name "${name.slice(0, 100)}": use <namespace>/<name>, lowercase, as docker references do`,
      )
    }
    const namespace = namespaceOf(name)
    if (!this.#d.accounts.byName(namespace)) {
      throw new ApiError(
        'NOT_FOUND',
        `no user or organization named "${namespace}": repositories live in an existing namespace`,
      )
    }
    allow(this.#d.permissions.canCreateRepository(p, namespace), `you may not create repositories in ${namespace}`)
    if (this.#d.meta.repository(name)) throw new ApiError('CONFLICT', `repository ${name} already exists`)
    const row: RepositoryRow = {
      name,
      visibility: input.visibility ?? 'private',
      description: input.description ?? '',
      longDescription: input.longDescription ?? '',
      createdAt: this.#d.now(),
      createdBy: p.name,
    }
    try {
      this.#d.meta.createRepository(row)
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE')
        throw new ApiError('CONFLICT', `repository ${name} already exists`)
      throw err
    }
    audit(this.#d.events, caller, 'repository.create', 'repository', name, { visibility: row.visibility })
    return this.#view(p, row)
  }

  /** Changes visibility or descriptions (repository admins, namespace owners, admins). */
  update(
    caller: Caller,
    name: string,
    patch: { visibility?: Visibility; description?: string; longDescription?: string },
  ): RepositoryView {
    const p = signedIn(caller)
    const repo = this.visible(p, name)
    allow(this.#d.permissions.canAdminRepository(p, name), `only admins of ${name} may change it`)
    const updated = {
      ...repo,
      visibility: patch.visibility ?? repo.visibility,
      description: patch.description ?? repo.description,
      longDescription: patch.longDescription ?? repo.longDescription,
    }
    this.#d.meta.updateRepository(name, updated.visibility, updated.description, updated.longDescription)
    const detail: Record<string, unknown> = { changed: Object.keys(patch) }
    if (patch.visibility !== undefined) detail.visibility = updated.visibility
    audit(this.#d.events, caller, 'repository.update', 'repository', name, detail)
    return this.#view(p, updated)
  }

  /** Deletes a repository with its tags, manifests, blob links and grants (blob files wait for garbage collection). */
  delete(caller: Caller, name: string): void {
    const p = signedIn(caller)
    this.visible(p, name)
    allow(this.#d.permissions.canAdminRepository(p, name), `only admins of ${name} may delete it`)
    const tags = this.#d.meta.tagCount(name)
    this.#d.accounts.db.transaction(() => {
      this.#d.access.deleteGrantsOn('repository', name)
      this.#d.meta.deleteRepository(name)
    })()
    audit(this.#d.events, caller, 'repository.delete', 'repository', name, { tags })
  }

  /** The repository when it exists and the principal may see it; NOT_FOUND otherwise, so private names do not leak. */
  visible(p: Principal, name: string): RepositoryRow {
    const repo = isValidName(name) ? this.#d.meta.repository(name) : undefined
    if (!repo || !this.#d.permissions.canSeeRepository(p, name)) {
      throw new ApiError('NOT_FOUND', `repository "${name.slice(0, 200)}" not found`)
    }
    return repo
  }

  #view(p: Principal, r: RepositoryRow): RepositoryView {
    return {
      name: r.name,
      namespace: namespaceOf(r.name),
      visibility: r.visibility,
      description: r.description,
      longDescription: r.longDescription,
      tagCount: this.#d.meta.tagCount(r.name),
      createdAt: iso(r.createdAt),
      createdBy: r.createdBy,
      actions: [...this.#d.permissions.actions(p, r.name)],
    }
  }
}
