import { badRequest, notFound } from '../../lib/api-error.ts'
import type { AssignmentKind, AssignmentsStore } from '../storage/assignments-store.ts'
import type { AssignmentPut, AssignmentView } from '../schemas.ts'
import type { SitesService } from './sites.ts'

export const KINDS: readonly AssignmentKind[] = ['user', 'team', 'org']


const SUBJECT_RE: Record<AssignmentKind, RegExp> = {
  user: /^[^\s/]{1,255}$/,
  org: /^[^\s/]{1,255}$/,
  team: /^[^\s/]{1,255}\/[^\s/]{1,255}$/,
}

/** Explicit settings of which site serves a user, a team (`org/team`) or an organization. */
export class AssignmentsService {
  readonly #store: AssignmentsStore
  readonly #sites: SitesService
  readonly #now: () => number

  constructor(store: AssignmentsStore, sites: SitesService, now: () => number) {
    this.#store = store
    this.#sites = sites
    this.#now = now
  }

  static kind(v: string): AssignmentKind {
    if (!(KINDS as string[]).includes(v)) throw badRequest(`kind must be one of ${KINDS.join(', ')} (got "${v}")`)
    return v as AssignmentKind
  }

  static subject(kind: AssignmentKind, v: string): string {
    if (!SUBJECT_RE[kind].test(v))
      throw badRequest(kind === 'team' ? 'a team subject is org/team' : `a ${kind} subject is a name without spaces or slashes`)
    return v
  }

  list(): AssignmentView[] {
    return this.#store.list().map((a) => this.#view(a))
  }

  get(kind: AssignmentKind, subject: string): AssignmentView {
    const a = this.#store.get(kind, subject)
    if (!a) throw notFound(`no assignment for ${kind} ${subject}`)
    return this.#view(a)
  }

  put(kind: AssignmentKind, subject: string, input: AssignmentPut): AssignmentView {
    const site = this.#sites.find(input.site)
    if (!site) throw badRequest(`site "${input.site}" does not exist`)
    this.#store.put({ kind, subject, siteId: site.id }, this.#now())
    return { kind, subject, site: site.name }
  }

  delete(kind: AssignmentKind, subject: string): void {
    if (!this.#store.delete(kind, subject)) throw notFound(`no assignment for ${kind} ${subject}`)
  }

  #view(a: { kind: AssignmentKind; subject: string; siteId: string }): AssignmentView {
    return { kind: a.kind, subject: a.subject, site: this.#sites.find(a.siteId)?.name ?? a.siteId }
  }
}
