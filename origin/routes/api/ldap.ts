import { Hono } from 'hono'
import { z } from 'zod'
import { strict, text } from '../../../lib/validation.ts'
import type { OriginDeps } from '../../deps.ts'
import { requireAdmin, type ApiEnv } from '../../http/api-auth.ts'
import { actorOf } from '../../services/events.ts'
import { ApiError } from '../../../lib/api-error.ts'
import { LDAP_SETTINGS_INPUT, parseLdapSettings, publicLdapSettings } from '../../services/ldap-settings.ts'
import { json } from './input.ts'

/**
 * `/api/v0/meta/ldap`, system administrators only:
 *
 *   GET    /                           the settings; the bind password only as `bindPasswordSet`
 *   PUT    /                           change settings: fields left out keep their value (the bind password too)
 *   POST   /test                       connect, bind as the service account, search users (and groups) with a
 *                                      limit: `{ ok, usersFound, sample, groupsFound?, error? }`, a 200 either
 *                                      way; a body tests those settings over the stored ones without saving
 *   POST   /sync                       sync now; the SyncResult (409 while LDAP is disabled)
 *   GET    /team-mappings              `{ mappings: [{ org, team, group }] }`
 *   PUT    /team-mappings/:org/:team   `{ group: "<group DN>" }` maps a team to a directory group (under groupBaseDn)
 *   DELETE /team-mappings/:org/:team   unmaps it; its members stay until changed by hand
 */
export function ldapApiRoutes(deps: OriginDeps) {
  const { ldap } = deps.identity
  const app = new Hono<ApiEnv>()

  app.use(async (c, next) => {
    requireAdmin(c)
    await next()
  })

  app.get('/', (c) => c.json(publicLdapSettings(ldap.settings())))

  app.put('/', json(LDAP_SETTINGS_INPUT), (c) => {
    const admin = requireAdmin(c)
    const parsed = parseLdapSettings(c.req.valid('json'), ldap.settings())
    if (!parsed.ok)
      throw new ApiError('BAD_REQUEST', `invalid LDAP settings: ${parsed.problems.join('; ')}`, {
        detail: { problems: parsed.problems },
      })
    ldap.saveSettings(parsed.settings, actorOf(admin))
    return c.json(publicLdapSettings(parsed.settings))
  })

  // settings that do not parse are a test that failed (200, ok: false), so the body is read as any JSON here
  app.post('/test', json(z.unknown()), async (c) => {
    const parsed = parseLdapSettings(c.req.valid('json'), ldap.settings())
    if (!parsed.ok) return c.json({ ok: false, usersFound: 0, sample: [], error: parsed.problems.join('; ') })
    return c.json(await ldap.test(parsed.settings))
  })

  app.post('/sync', async (c) => {
    const admin = requireAdmin(c)
    if (!ldap.enabled())
      throw new ApiError('CONFLICT', 'LDAP is disabled: PUT {"enabled": true, ...} to /api/v0/meta/ldap first')
    return c.json(await ldap.sync(actorOf(admin)))
  })

  app.get('/team-mappings', (c) => c.json({ mappings: ldap.teamMappings() }))

  app.put('/team-mappings/:org/:team', json(strict({ group: text(65_536, 1) })), (c) => {
    const admin = requireAdmin(c)
    return c.json(ldap.mapTeam(c.req.param('org'), c.req.param('team'), c.req.valid('json').group, actorOf(admin)))
  })

  app.delete('/team-mappings/:org/:team', (c) => {
    const admin = requireAdmin(c)
    ldap.unmapTeam(c.req.param('org'), c.req.param('team'), actorOf(admin))
    return c.body(null, 204)
  })

  return app
}
