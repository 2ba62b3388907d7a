import { parseDuration } from '../../lib/config.ts'
import { arg, noExtra, opt, pretty, type Command } from '../command.ts'
import { UsageError } from '../errors.ts'
import { table } from '../format.ts'
import { JoinTokenCreated, JoinTokenList, type JoinTokenCreate } from '../../control-plane/schemas.ts'

/** `--expires-in`: seconds (3600) or a duration (1h, 30m, 7d). */
function seconds(v: string): number {
  const ms = /^\d+$/.test(v) ? Number(v) * 1000 : parseDuration(v)
  if (ms === undefined || ms < 1000) throw new UsageError(`--expires-in must be seconds or a duration such as 1h or 7d (got "${v}")`)
  return Math.round(ms / 1000)
}

export const joinTokenCommands: Command[] = [
  {
    name: 'join-token create',
    usage: 'wharf join-token create [--site SITE] [--uses N] [--expires-in 1h] [--json]',
    summary: 'make a join token for a cache node (for an existing site, or one that creates its site)',
    options: { site: { type: 'string' }, uses: { type: 'string' }, 'expires-in': { type: 'string' } },
    async run(ctx) {
      noExtra(ctx, 0)
      const body: JoinTokenCreate = {}
      const site = opt(ctx.values, 'site')
      if (site) body.site = site
      const uses = opt(ctx.values, 'uses')
      if (uses !== undefined) {
        if (!/^\d+$/.test(uses)) throw new UsageError(`--uses must be a whole number (got "${uses}")`)
        body.uses = Number(uses)
      }
      const expires = opt(ctx.values, 'expires-in')
      if (expires !== undefined) body.expiresIn = seconds(expires)
      const t = await ctx.api.read(JoinTokenCreated, 'POST', '/join-tokens', body)
      if (ctx.json) return ctx.out(pretty(t))
      ctx.out(
        `${t.token}\n\njoin token ${t.id}: ${t.site ? `joins as site ${t.site}` : 'creates a new site'}, ${t.usesLeft} use(s), expires ${t.expiresAt}\n` +
          'shown only now: give it to the cache node (CACHE_JOIN_TOKEN)\n',
      )
    },
  },
  {
    name: 'join-token list',
    usage: 'wharf join-token list [--json]',
    summary: 'list join tokens (never their secret)',
    async run(ctx) {
      noExtra(ctx, 0)
      const { joinTokens } = await ctx.api.read(JoinTokenList, 'GET', '/join-tokens')
      if (ctx.json) return ctx.out(pretty(joinTokens))
      ctx.out(
        table(
          ['ID', 'SITE', 'USES LEFT', 'EXPIRES', 'CREATED'],
          joinTokens.map((t) => [t.id, t.site ?? '(new site)', t.usesLeft, t.expiresAt, t.createdAt]),
        ),
      )
    },
  },
  {
    name: 'join-token revoke',
    usage: 'wharf join-token revoke <id>',
    summary: 'revoke a join token',
    async run(ctx) {
      const id = arg(ctx, 0, 'id')
      noExtra(ctx, 1)
      await ctx.api.call('DELETE', `/join-tokens/${encodeURIComponent(id)}`)
      ctx.out(`revoked join token ${id}\n`)
    },
  },
]
