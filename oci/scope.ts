/**
 * Docker registry token scopes (distribution's docs/spec/auth/scope.md) and the `access` claim of its JWTs.
 *   scope := resourcetype ":" resourcename ":" action [ "," action ]*
 * The name may contain ":" (a host with a port), so the type ends at the first ":" and the actions start after the last.
 */
export interface ResourceAccess {
  type: string
  name: string
  actions: string[]
}

/** Parses one scope value, which may hold several space-separated scopes. Malformed entries are skipped. */
export function parseScopes(value: string): ResourceAccess[] {
  const out: ResourceAccess[] = []
  for (const part of value.split(' ')) {
    const first = part.indexOf(':')
    const last = part.lastIndexOf(':')
    if (first <= 0 || last <= first + 1) continue
    // the deprecated "repository(plugin)" class is treated as "repository", as distribution does
    const type = part.slice(0, first).replace(/\([a-z0-9]+\)$/, '')
    if (!/^[a-z0-9]+$/.test(type)) continue
    const name = part.slice(first + 1, last)
    const actions = part
      .slice(last + 1)
      .split(',')
      .filter((a) => /^[a-z*]+$/.test(a))
    if (actions.length > 0) out.push({ type, name, actions })
  }
  return out
}

/** Merges entries for the same resource, so `a:pull` and `a:push` become `a:pull,push`. */
export function mergeScopes(list: ResourceAccess[]): ResourceAccess[] {
  const byKey = new Map<string, ResourceAccess>()
  for (const a of list) {
    const key = `${a.type}:${a.name}`
    const prev = byKey.get(key)
    if (prev) prev.actions = [...new Set([...prev.actions, ...a.actions])]
    else byKey.set(key, { type: a.type, name: a.name, actions: [...new Set(a.actions)] })
  }
  return [...byKey.values()]
}

export function formatScope(a: ResourceAccess): string {
  return `${a.type}:${a.name}:${a.actions.join(',')}`
}

/** Whether the granted access list holds `action` on the resource (`*` holds every action). */
export function holds(granted: readonly ResourceAccess[], type: string, name: string, action: string): boolean {
  return granted.some(
    (g) => g.type === type && g.name === name && (g.actions.includes(action) || g.actions.includes('*')),
  )
}

/** The `WWW-Authenticate` value of a Bearer challenge. */
export function bearerChallenge(opts: {
  realm: string
  service: string
  scope?: string
  error?: 'invalid_token' | 'insufficient_scope'
}): string {
  const parts = [`realm="${opts.realm}"`, `service="${opts.service}"`]
  if (opts.scope) parts.push(`scope="${opts.scope}"`)
  if (opts.error) parts.push(`error="${opts.error}"`)
  return `Bearer ${parts.join(',')}`
}

/**
 * The scopes a `/v2/` request needs, read from its method and path as a client reads them before it asks a realm:
 * GET and HEAD pull, POST, PUT and PATCH push (with pull, as docker asks), DELETE deletes; `_catalog` needs
 * `registry:catalog:*`; a cross-repository mount (`?from=`) also pulls from its source. Names may contain
 * `blobs` or `manifests` segments, so the endpoint is matched at the end. `/v2/` itself needs none.
 */
export function scopesForRequest(method: string, path: string, query?: URLSearchParams): string[] {
  if (path === '/v2/_catalog' || path.startsWith('/v2/_catalog?')) return ['registry:catalog:*']
  const m = /^\/v2\/(.+)\/(?:blobs\/uploads\/?[^/]*|blobs\/[^/]+|manifests\/[^/]+|tags\/list|referrers\/[^/]+)$/.exec(
    path,
  )
  if (!m) return []
  const upper = method.toUpperCase()
  const actions = upper === 'GET' || upper === 'HEAD' ? 'pull' : upper === 'DELETE' ? 'delete' : 'pull,push'
  const scopes = [`repository:${m[1]}:${actions}`]
  const from = query?.get('from')
  if (from) scopes.push(`repository:${from}:pull`)
  return scopes
}
