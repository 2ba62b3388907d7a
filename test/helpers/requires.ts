/**
 * Suites that need a part of the machine (real registry clients, slapd, chromium, PostgreSQL): run when it is
 * there; when it is not, fail with the reason under WHARF_REQUIRE_CLIENTS=1 (CI), else skip after one loud
 * warning per part on stderr.
 */
import { describe, it } from 'vitest'

export type Availability<T = undefined> = { ok: true; value: T } | { ok: false; reason: string }

const warned = new Set<string>()

/** `describe(name, () => body(value))` when `availability` is ok; see the module comment otherwise. */
export function describeWhenAvailable<T>(
  what: string,
  availability: Availability<T>,
  name: string,
  body: (value: T) => void,
): void {
  if (availability.ok) {
    describe(name, () => body(availability.value))
    return
  }
  const reason = availability.reason
  if (process.env.WHARF_REQUIRE_CLIENTS === '1') {
    describe(name, () => {
      it(`${what} is available (WHARF_REQUIRE_CLIENTS=1)`, () => {
        throw new Error(`WHARF_REQUIRE_CLIENTS=1 but ${what} is unavailable: ${reason}`)
      })
    })
    return
  }
  if (!warned.has(what)) {
    warned.add(what)
    process.stderr.write(
      `\n${'!'.repeat(100)}\n!!! SKIPPING the tests that need ${what}: ${reason}\n` +
        `!!! (set WHARF_REQUIRE_CLIENTS=1 to make this a failure)\n${'!'.repeat(100)}\n\n`,
    )
  }
  describe.skip(name, () => {
    it(`needs ${what}: ${reason}`, () => {})
  })
}
