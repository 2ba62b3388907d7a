import { OciError } from '../../oci/errors.ts'
import type { Upstream } from './upstream.ts'

/** Where a request's repository lives. */
export interface Target {
  upstream: Upstream
  /** The repository as the upstream names it. */
  repository: string
  /** The repository as the client named it: the name its token and our challenges use. */
  clientName: string
  /** The `ns` the client sent (containerd), kept on the links this cache writes. */
  ns?: string
}

export type Rule =
  { match: 'ns'; ns: string; upstream: Upstream } | { match: 'prefix'; prefix: string; upstream: Upstream }

export interface RouterOptions {
  /** The origin or a parent cache: where everything goes that no rule sends elsewhere. */
  fallback: Upstream
  rules: Rule[]
  /** The ns rule that takes docker's registry-mirrors requests (no ns). */
  dockerMirror?: string
  /** `library`: only official images (`library/<name>`) go to the docker mirror; `all`: every name without ns. */
  dockerMirrorNames?: 'library' | 'all'
  /** Registry hosts that mean the default upstream when a client names them in `ns` (origin, parent, this cache). */
  defaultHosts: () => Iterable<string>
}

/** Docker Hub goes by several names; containerd sends `docker.io`, other clients may send the others. */
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com'])

/**
 * Picks the upstream for a repository:
 * 1. `?ns=<registry>` (containerd hosts.toml mirrors): the ns rule for that registry, or the default upstream when
 *    it names the origin, the parent or this cache; any other registry is unknown here (404 NAME_UNKNOWN, so the
 *    client moves on to its next host).
 * 2. A prefix rule: `<prefix>/<rest>` goes to that upstream as `<rest>` (longest prefix first).
 * 3. `library/<name>` without ns, when CACHE_DOCKER_MIRROR is set: docker's registry-mirrors asks this way for
 *    one-part Docker Hub names. Other Docker Hub names look exactly like origin names and go to the default,
 *    unless CACHE_DOCKER_MIRROR_NAMES=all makes this a cache dedicated to Docker Hub.
 * 4. The default upstream.
 */
export class Router {
  readonly #opts: RouterOptions
  readonly #ns = new Map<string, Upstream>()
  readonly #prefixes: { prefix: string; upstream: Upstream }[]

  constructor(opts: RouterOptions) {
    this.#opts = opts
    for (const r of opts.rules) if (r.match === 'ns') this.#ns.set(r.ns, r.upstream)
    this.#prefixes = opts.rules
      .filter((r): r is Extract<Rule, { match: 'prefix' }> => r.match === 'prefix')
      .sort((a, b) => b.prefix.length - a.prefix.length)
  }

  resolve(name: string, ns: string | undefined): Target {
    if (ns) {
      const host = ns.toLowerCase()
      const rule =
        this.#ns.get(host) ??
        (DOCKER_HUB_ALIASES.has(host) ? [...DOCKER_HUB_ALIASES].map((a) => this.#ns.get(a)).find(Boolean) : undefined)
      if (rule) return { upstream: rule, repository: name, clientName: name, ns }
      if ([...this.#opts.defaultHosts()].includes(host))
        return { upstream: this.#opts.fallback, repository: name, clientName: name, ns }
      throw new OciError('NAME_UNKNOWN', `this cache has no upstream for registry "${ns.slice(0, 100)}"`, {
        status: 404,
      })
    }
    for (const p of this.#prefixes) {
      if (name.startsWith(`${p.prefix}/`))
        return { upstream: p.upstream, repository: name.slice(p.prefix.length + 1), clientName: name }
    }
    if (this.#opts.dockerMirror && (name.startsWith('library/') || this.#opts.dockerMirrorNames === 'all')) {
      const upstream = this.#ns.get(this.#opts.dockerMirror)
      if (upstream) return { upstream, repository: name, clientName: name }
    }
    return { upstream: this.#opts.fallback, repository: name, clientName: name }
  }

  /** Every distinct upstream. */
  upstreams(): Upstream[] {
    return [...new Set([this.#opts.fallback, ...this.#opts.rules.map((r) => r.upstream)])]
  }
}
