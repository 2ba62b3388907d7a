import type { z } from 'zod'
import { AssignmentList, AssignmentView, Resolution, type AssignmentPut, type ResolveRequest } from '../../control-plane/schemas.ts'
import { arg, list, noExtra, opt, pretty, type Command } from '../command.ts'
import { UsageError } from '../errors.ts'
import { table } from '../format.ts'

const KINDS = ['user', 'team', 'org']

function kind(v: string): string {
  if (!KINDS.includes(v)) throw new UsageError(`<kind> must be user, team or org (got "${v}")`)
  return v
}

const path = (k: string, subject: string) => `/assignments/${k}/${subject.split('/').map(encodeURIComponent).join('/')}`

export const assignCommands: Command[] = [
  {
    name: 'assign set',
    usage: 'wharf assign set <user|team|org> <subject> --site SITE   (a team is org/team)',
    summary: 'send a user, team or organization to a site',
    options: { site: { type: 'string' } },
    async run(ctx) {
      const k = kind(arg(ctx, 0, 'kind'))
      const subject = arg(ctx, 1, 'subject')
      noExtra(ctx, 2)
      const site = opt(ctx.values, 'site')
      if (!site) throw new UsageError('--site is required')
      const put: AssignmentPut = { site }
      const a = await ctx.api.read(AssignmentView, 'PUT', path(k, subject), put)
      if (ctx.json) return ctx.out(pretty(a))
      ctx.out(`${k} ${subject} → ${site}\n`)
    },
  },
  {
    name: 'assign unset',
    usage: 'wharf assign unset <user|team|org> <subject>',
    summary: 'remove an assignment',
    async run(ctx) {
      const k = kind(arg(ctx, 0, 'kind'))
      const subject = arg(ctx, 1, 'subject')
      noExtra(ctx, 2)
      await ctx.api.call('DELETE', path(k, subject))
      ctx.out(`removed the assignment of ${k} ${subject}\n`)
    },
  },
  {
    name: 'assign list',
    usage: 'wharf assign list [--json]',
    summary: 'list assignments',
    async run(ctx) {
      noExtra(ctx, 0)
      const { assignments } = await ctx.api.read(AssignmentList, 'GET', '/assignments')
      if (ctx.json) return ctx.out(pretty(assignments))
      ctx.out(table(['KIND', 'SUBJECT', 'SITE'], assignments.map((a) => [a.kind, a.subject, a.site])))
    },
  },
  {
    name: 'assign resolve',
    usage: 'wharf assign resolve [--user U] [--team ORG/TEAM]... [--org ORG]... [--address IP] [--json]',
    summary: 'which site would serve this client, and why',
    options: {
      user: { type: 'string' },
      team: { type: 'string', multiple: true },
      org: { type: 'string', multiple: true },
      address: { type: 'string' },
    },
    async run(ctx) {
      noExtra(ctx, 0)
      const body: z.input<typeof ResolveRequest> = { teams: list(ctx.values, 'team'), orgs: list(ctx.values, 'org') }
      const user = opt(ctx.values, 'user')
      const address = opt(ctx.values, 'address')
      if (user) body.user = user
      if (address) body.address = address
      const r = await ctx.api.read(Resolution, 'POST', '/assignments/resolve', body)
      if (ctx.json) return ctx.out(pretty(r))
      ctx.out(
        r.site
          ? `${r.site.name} (${r.site.url}) by rule ${r.rule}: ${r.detail}\nchain: ${r.site.chain.join(' → ')} → origin\n`
          : `the origin, by rule ${r.rule}: ${r.detail}\n`,
      )
    },
  },
]
