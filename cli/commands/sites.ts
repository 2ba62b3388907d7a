import { readFileSync } from 'node:fs'
import { parseBytes } from '../../lib/config.ts'
import { arg, list, noExtra, number, opt, pretty, type Command, type Ctx, type Values } from '../command.ts'
import { UsageError } from '../errors.ts'
import { bytes, percent, table } from '../format.ts'
import { HealthView, SiteList, SiteView, type SitePatch } from '../../control-plane/schemas.ts'
import type { z } from 'zod'

type SiteFields = z.input<typeof SitePatch>

const FIELD_OPTIONS = {
  url: { type: 'string' },
  region: { type: 'string' },
  latitude: { type: 'string' },
  longitude: { type: 'string' },
  network: { type: 'string', multiple: true },
  parent: { type: 'string' },
  capacity: { type: 'string' },
  default: { type: 'boolean' },
  'ca-cert': { type: 'string' },
} as const

/** The site fields the flags set (only those given). */
function fields(v: Values): SiteFields {
  const body: SiteFields = {}
  if (opt(v, 'url') !== undefined) body.url = opt(v, 'url')
  if (opt(v, 'region') !== undefined) body.region = opt(v, 'region')
  const lat = number(opt(v, 'latitude'), 'latitude')
  const lon = number(opt(v, 'longitude'), 'longitude')
  if (lat !== undefined) body.latitude = lat
  if (lon !== undefined) body.longitude = lon
  if (v.network !== undefined) body.networks = list(v, 'network').flatMap((n) => n.split(',')).filter(Boolean)
  if (opt(v, 'parent') !== undefined) body.parent = opt(v, 'parent') || null
  const cap = opt(v, 'capacity')
  if (cap !== undefined) {
    const n = parseBytes(cap)
    if (n === undefined) throw new UsageError(`--capacity must be a size such as 500GiB (got "${cap}")`)
    body.capacityBytes = n
  }
  if (v.default === true) body.isDefault = true
  const ca = opt(v, 'ca-cert')
  if (ca !== undefined) {
    try {
      body.caCertificate = readFileSync(ca, 'utf8')
    } catch (err) {
      throw new UsageError(`cannot read --ca-cert ${ca}: ${(err as Error).message}`)
    }
  }
  return body
}

function showSite(ctx: Ctx, s: SiteView): void {
  if (ctx.json) return ctx.out(pretty(s))
  const rows: [string, string][] = [
    ['id', s.id],
    ['name', s.name],
    ['url', s.url ?? '-'],
    ['region', s.region ?? '-'],
    ['location', s.latitude === null ? '-' : `${s.latitude}, ${s.longitude}`],
    ['networks', s.networks.join(', ') || '-'],
    ['parent', s.parent ?? '- (the origin)'],
    ['capacity', bytes(s.capacityBytes)],
    ['default', s.isDefault ? 'yes' : 'no'],
    ['health', `${s.health.state}${s.health.since ? ` since ${s.health.since}` : ''}`],
    ['last heartbeat', s.health.lastHeartbeatAt ?? '-'],
    ['version', s.stats?.version || '-'],
    ['disk used', bytes(s.stats?.diskUsedBytes)],
    ['hit ratio', percent(s.stats?.hitRatio)],
  ]
  ctx.out(rows.map(([k, v]) => `${`${k}:`.padEnd(16)}${v}`).join('\n') + '\n')
}

export const siteCommands: Command[] = [
  {
    name: 'sites list',
    usage: 'wharf sites list [--json]',
    summary: 'list the sites with their health',
    async run(ctx) {
      noExtra(ctx, 0)
      const { sites } = await ctx.api.read(SiteList, 'GET', '/sites')
      if (ctx.json) return ctx.out(pretty(sites))
      ctx.out(
        table(
          ['NAME', 'ID', 'URL', 'REGION', 'STATE', 'PARENT', 'DEFAULT', 'NETWORKS'],
          sites.map((s) => [s.name, s.id, s.url, s.region, s.health.state, s.parent, s.isDefault ? 'yes' : '', s.networks.join(',')]),
        ),
      )
    },
  },
  {
    name: 'sites show',
    usage: 'wharf sites show <site> [--json]',
    summary: 'show one site (by name or id)',
    async run(ctx) {
      const site = arg(ctx, 0, 'site')
      noExtra(ctx, 1)
      showSite(ctx, await ctx.api.read(SiteView, 'GET', `/sites/${encodeURIComponent(site)}`))
    },
  },
  {
    name: 'sites create',
    usage:
      'wharf sites create <name> --url <url> [--region R] [--latitude N --longitude N] [--network CIDR]... [--parent SITE] [--capacity 500GiB] [--default] [--ca-cert FILE] [--json]',
    summary: 'add a site',
    options: FIELD_OPTIONS,
    async run(ctx) {
      const name = arg(ctx, 0, 'name')
      noExtra(ctx, 1)
      const s = await ctx.api.read(SiteView, 'POST', '/sites', { name, ...fields(ctx.values) })
      if (ctx.json) return ctx.out(pretty(s))
      ctx.out(`created site ${s.name} (${s.id})\n`)
    },
  },
  {
    name: 'sites update',
    usage:
      'wharf sites update <site> [--name N] [--url U] [--region R] [--latitude N --longitude N] [--network CIDR]... [--parent SITE | --no-parent] [--capacity SIZE] [--default | --no-default] [--ca-cert FILE | --no-ca-cert] [--json]',
    summary: 'change a site',
    options: {
      ...FIELD_OPTIONS,
      name: { type: 'string' },
      'no-parent': { type: 'boolean' },
      'no-default': { type: 'boolean' },
      'no-ca-cert': { type: 'boolean' },
    },
    async run(ctx) {
      const site = arg(ctx, 0, 'site')
      noExtra(ctx, 1)
      const body = fields(ctx.values)
      const newName = opt(ctx.values, 'name')
      if (newName !== undefined) body.name = newName
      if (ctx.values['no-parent']) body.parent = null
      if (ctx.values['no-default']) body.isDefault = false
      if (ctx.values['no-ca-cert']) body.caCertificate = null
      if (Object.keys(body).length === 0) throw new UsageError('nothing to change: give at least one option')
      const s = await ctx.api.read(SiteView, 'PATCH', `/sites/${encodeURIComponent(site)}`, body)
      if (ctx.json) return ctx.out(pretty(s))
      ctx.out(`updated site ${s.name} (${s.id})\n`)
    },
  },
  {
    name: 'sites remove',
    usage: 'wharf sites remove <site>',
    summary: 'remove a site (its assignments go, its join tokens are revoked)',
    async run(ctx) {
      const site = arg(ctx, 0, 'site')
      noExtra(ctx, 1)
      await ctx.api.call('DELETE', `/sites/${encodeURIComponent(site)}`)
      ctx.out(`removed site ${site}\n`)
    },
  },
  {
    name: 'sites health',
    usage: 'wharf sites health <site> [--limit N] [--json]',
    summary: "a site's health and its history of changes",
    options: { limit: { type: 'string' } },
    async run(ctx) {
      const site = arg(ctx, 0, 'site')
      noExtra(ctx, 1)
      const limit = opt(ctx.values, 'limit')
      const q = limit ? `?limit=${encodeURIComponent(limit)}` : ''
      const h = await ctx.api.read(HealthView, 'GET', `/sites/${encodeURIComponent(site)}/health${q}`)
      if (ctx.json) return ctx.out(pretty(h))
      ctx.out(`${site}: ${h.state}${h.since ? ` since ${h.since}` : ''}; last heartbeat ${h.lastHeartbeatAt ?? 'never'}\n`)
      if (h.history.length > 0) ctx.out(`\n${table(['AT', 'STATE', 'REASON'], h.history.map((e) => [e.at, e.state, e.reason]))}`)
    },
  },
]
