/**
 * Names Wharf uses for itself, as actors of events (`anonymous`, `system`, `ldap`, `schedule`) or as the subject of
 * its own tokens (`wharf-origin`), and a few that would read as such. No account may take one.
 */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  'anonymous',
  'system',
  'ldap',
  'schedule',
  'wharf',
  'wharf-origin',
  'origin',
  'controlplane',
  'control-plane',
  'root',
])

export function isReservedName(name: string): boolean {
  return RESERVED_NAMES.has(name.toLowerCase())
}
