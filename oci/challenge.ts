/** A `WWW-Authenticate: Bearer realm=…,service=…,scope=…` challenge (Docker token authentication). */
export interface BearerChallenge {
  realm: string
  service?: string
  scope?: string
  error?: string
}

/**
 * Reads the Bearer challenge out of a `WWW-Authenticate` value (or several, as Node gives repeated headers);
 * undefined when there is none or it has no realm. Parameter values may be quoted (with `\` escapes) or bare.
 */
export function parseBearerChallenge(header: string | string[] | undefined | null): BearerChallenge | undefined {
  const values = Array.isArray(header) ? header : header ? [header] : []
  for (const value of values) {
    const m = /(?:^|,\s*)Bearer\s+(.*)$/i.exec(value.trim())
    if (!m) continue
    const params: Record<string, string> = {}
    const re = /([a-zA-Z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g
    for (let p = re.exec(m[1]!); p; p = re.exec(m[1]!)) {
      params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '')
    }
    if (!params.realm) continue
    return { realm: params.realm, service: params.service, scope: params.scope, error: params.error }
  }
  return undefined
}
