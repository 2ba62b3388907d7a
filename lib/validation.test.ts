import { describe, expect, test } from 'vitest'
import { z } from 'zod'
import { allowedMethods } from './allowed-methods.ts'
import { describeIssues, flag, listOf, oneOf, parseJsonText, problemsMessage, strict, text, whole } from './validation.ts'

const ACCOUNT = strict({
  name: text(100, 1),
  kind: oneOf(['user', 'org']).optional(),
  isAdmin: flag().optional(),
  permissions: listOf(strict({ repository: text(10, 1), actions: listOf(text(5), 2) }), 3).optional(),
  uses: whole(1, 10).optional(),
})

/** The one message a body gets. */
function message(body: unknown): string {
  const r = ACCOUNT.safeParse(body)
  if (r.success) return 'ok'
  return problemsMessage(describeIssues(r.error.issues, body))
}

describe('describeIssues', () => {
  test.each([
    [{ name: 'a' }, 'ok'],
    [{}, 'name is required'],
    [{ name: '' }, 'name must be a string of 1 to 100 characters'],
    [{ name: 'a', isAdmin: 'yes' }, 'isAdmin must be true or false'],
    [{ name: 'a', kind: 'team' }, 'kind must be one of user, org'],
    [{ name: 'a', uses: 1.5 }, 'uses must be a whole number from 1 to 10'],
    [{ name: 'a', isadmin: true }, 'unknown field isadmin; expected name, kind, isAdmin, permissions, uses'],
    [{ name: 'a', permissions: [{ repository: 'r', actions: ['pull'], why: 1 }] }, 'unknown field permissions[0].why; expected repository, actions'],
    [{ name: 'a', permissions: [{ repository: 'r', actions: ['pull', 'push', 'delete'] }] }, 'permissions[0].actions must be a list of at most 2 entries'],
    [[], 'the body must be a JSON object'],
  ])('%j → %s', (body, expected) => {
    expect(message(body)).toBe(expected)
  })

  test('names the keys of Object.prototype as the unknown fields they are', () => {
    for (const key of ['__proto__', 'constructor', 'toString']) {
      expect(message(JSON.parse(`{"name":"a","${key}":1}`))).toBe(`unknown field ${key}; expected name, kind, isAdmin, permissions, uses`)
    }
  })

  test("keeps zod's own sentence for a schema without our messages", () => {
    const r = z.strictObject({ n: z.number() }).safeParse({ n: 'x' })
    expect(describeIssues(r.error!.issues, { n: 'x' })[0]).toEqual({ path: 'n', message: 'n: Invalid input: expected number, received string' })
  })
})

describe('parseJsonText', () => {
  test('an empty body is {}; anything else must be JSON sent as JSON', () => {
    expect(parseJsonText('', undefined)).toEqual({ ok: true, value: {} })
    expect(parseJsonText('{"a":1}', 'application/json; charset=utf-8')).toEqual({ ok: true, value: { a: 1 } })
    expect(parseJsonText('{"a":1}', 'application/vnd.wharf+json')).toEqual({ ok: true, value: { a: 1 } })
    expect(parseJsonText('{"a":1}', 'application/x-www-form-urlencoded').ok).toBe(false)
    expect(parseJsonText('{"a":', 'application/json')).toEqual({ ok: false, message: 'the body is not valid JSON' })
  })
})

describe('allowedMethods', () => {
  test('lists the methods of the routes matching a path, HEAD with GET, ignoring catch-alls', () => {
    const allowed = allowedMethods({
      routes: [
        { method: 'ALL', path: '/*' },
        { method: 'GET', path: '/sites' },
        { method: 'POST', path: '/sites' },
        { method: 'DELETE', path: '/sites/:site' },
        { method: 'PUT', path: '/repositories/:name{[a-z0-9][a-z0-9._-]*(?:/[a-z0-9][a-z0-9._-]*)*}/teamAccess/:team' },
      ],
    })
    expect(allowed('/sites')).toEqual(['GET', 'HEAD', 'POST'])
    expect(allowed('/sites/eu')).toEqual(['DELETE'])
    expect(allowed('/repositories/acme/app/teamAccess/devs')).toEqual(['PUT'])
    expect(allowed('/nowhere')).toEqual([])
  })
})
