import { arg, noExtra, opt, pretty, type Command } from '../command.ts'
import { UsageError } from '../errors.ts'
import { ClientConfig } from '../../control-plane/schemas.ts'

export const clientConfigCommand: Command = {
  name: 'client-config',
  usage: 'wharf client-config <site> [--client docker|containerd|podman] [--origin HOST[:PORT]] [--json]',
  summary: 'configuration that sends docker, containerd or podman pulls to a site',
  options: { client: { type: 'string' }, origin: { type: 'string' } },
  async run(ctx) {
    const site = arg(ctx, 0, 'site')
    noExtra(ctx, 1)
    const client = opt(ctx.values, 'client')
    if (client !== undefined && !['docker', 'containerd', 'podman'].includes(client))
      throw new UsageError('--client must be docker, containerd or podman')
    const q = new URLSearchParams()
    const origin = opt(ctx.values, 'origin')
    if (origin) q.set('origin', origin)
    const qs = q.size > 0 ? `?${q}` : ''
    const c = await ctx.api.read(ClientConfig, 'GET', `/sites/${encodeURIComponent(site)}/client-config${qs}`)
    if (ctx.json) return ctx.out(pretty(client ? c.files.filter((f) => f.client === client) : c))
    if (client) return ctx.out(c.files.find((f) => f.client === client)?.content ?? '')
    for (const f of c.files) {
      ctx.out(`# ${f.client}: ${f.path}\n${f.note ? `# ${f.note}\n` : ''}${f.content}\n`)
    }
    ctx.out(`# trust\n${c.trust.map((t) => `- ${t}`).join('\n')}\n`)
  },
}
