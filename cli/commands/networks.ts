import { arg, noExtra, number, opt, pretty, type Command } from '../command.ts'
import { UsageError } from '../errors.ts'
import { table } from '../format.ts'
import type { z } from 'zod'
import { NetworkList, NetworkView, type NetworkCreate } from '../../control-plane/schemas.ts'

export const networkCommands: Command[] = [
  {
    name: 'networks list',
    usage: 'wharf networks list [--json]',
    summary: 'list networks with a location (for private addresses)',
    async run(ctx) {
      noExtra(ctx, 0)
      const { networks } = await ctx.api.read(NetworkList, 'GET', '/networks')
      if (ctx.json) return ctx.out(pretty(networks))
      ctx.out(
        table(
          ['ID', 'CIDR', 'LATITUDE', 'LONGITUDE', 'LABEL'],
          networks.map((n) => [n.id, n.cidr, n.latitude, n.longitude, n.label]),
        ),
      )
    },
  },
  {
    name: 'networks add',
    usage: 'wharf networks add <cidr> --latitude N --longitude N [--label TEXT] [--json]',
    summary: 'place a network (such as an office range) on the map',
    options: { latitude: { type: 'string' }, longitude: { type: 'string' }, label: { type: 'string' } },
    async run(ctx) {
      const cidr = arg(ctx, 0, 'cidr')
      noExtra(ctx, 1)
      const latitude = number(opt(ctx.values, 'latitude'), 'latitude')
      const longitude = number(opt(ctx.values, 'longitude'), 'longitude')
      if (latitude === undefined || longitude === undefined) throw new UsageError('--latitude and --longitude are required')
      const body: z.input<typeof NetworkCreate> = { cidr, latitude, longitude }
      const label = opt(ctx.values, 'label')
      if (label !== undefined) body.label = label
      const n = await ctx.api.read(NetworkView, 'POST', '/networks', body)
      if (ctx.json) return ctx.out(pretty(n))
      ctx.out(`added network ${n.cidr} (${n.id})\n`)
    },
  },
  {
    name: 'networks remove',
    usage: 'wharf networks remove <id>',
    summary: 'remove a network',
    async run(ctx) {
      const id = arg(ctx, 0, 'id')
      noExtra(ctx, 1)
      await ctx.api.call('DELETE', `/networks/${encodeURIComponent(id)}`)
      ctx.out(`removed network ${id}\n`)
    },
  },
]
