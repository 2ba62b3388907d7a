/** Reads `Authorization: Basic …` into a name and a password (which may contain ':'). */
export function parseBasic(header: string | undefined): { username: string; password: string } | undefined {
  const m = header && /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header)
  if (!m) return undefined
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return undefined
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
}
