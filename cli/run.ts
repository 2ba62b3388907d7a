import { parseArgs } from 'node:util'
import { CliControlPlaneClient } from './api.ts'
import { joinNegativeValues, type Command, type Options } from './command.ts'
import { assignCommands } from './commands/assign.ts'
import { clientConfigCommand } from './commands/client-config.ts'
import { joinTokenCommands } from './commands/join-tokens.ts'
import { networkCommands } from './commands/networks.ts'
import { reportCommand } from './commands/report.ts'
import { siteCommands } from './commands/sites.ts'
import { ApiCallError, UsageError } from './errors.ts'

export const COMMANDS: Command[] = [
  ...siteCommands,
  ...joinTokenCommands,
  ...assignCommands,
  ...networkCommands,
  reportCommand,
  clientConfigCommand,
]

const GLOBAL_OPTIONS: Options = {
  'control-plane': { type: 'string' },
  username: { type: 'string' },
  'password-stdin': { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
}

export interface Io {
  env: NodeJS.ProcessEnv
  stdout(text: string): void
  stderr(text: string): void
  /** All of standard input (for --password-stdin). */
  readStdin(): Promise<string>
}

export const DEFAULT_CONTROL_PLANE = 'http://127.0.0.1:5002'

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length))
  return [
    'wharf: administer a Wharf cache network through its control plane',
    '',
    'usage: wharf <command> [arguments] [options]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    `  ${'help [command]'.padEnd(width)}  this text, or one command's usage`,
    '',
    'options for every command:',
    `  --control-plane URL   the control plane (env WHARF_CONTROL_PLANE_URL, default ${DEFAULT_CONTROL_PLANE})`,
    '  --username NAME       an origin system administrator (env WHARF_USERNAME)',
    '  --password-stdin      read the password or personal access token from standard input',
    '                        (else env WHARF_PASSWORD; env WHARF_TOKEN supplies a ready origin token instead)',
    '  --json                machine-readable output',
    '',
    'exit codes: 0 done, 1 the control plane or origin refused or failed, 2 usage error',
    '',
  ].join('\n')
}

/** Finds the command named by the first one or two words. */
function findCommand(argv: string[]): { command: Command; rest: string[] } | undefined {
  const two = `${argv[0]} ${argv[1]}`
  const c2 = COMMANDS.find((c) => c.name === two)
  if (c2) return { command: c2, rest: argv.slice(2) }
  const c1 = COMMANDS.find((c) => c.name === argv[0])
  if (c1) return { command: c1, rest: argv.slice(1) }
  return undefined
}

/** Runs `wharf` with these arguments; answers the exit code. */
export async function run(argv: string[], io: Io): Promise<number> {
  if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
    const topic = argv[0] === 'help' ? argv.slice(1).join(' ') : ''
    const found = topic ? findCommand(argv.slice(1)) : undefined
    if (topic && !found) {
      io.stderr(`wharf: unknown command "${topic}"\n\n${help()}`)
      return 2
    }
    io.stdout(found ? `usage: ${found.command.usage}\n` : help())
    return 0
  }
  const found = findCommand(argv)
  if (!found) {
    const group = COMMANDS.filter((c) => c.name.startsWith(`${argv[0]} `))
    io.stderr(
      group.length > 0
        ? `wharf ${argv[0]}: ${argv[1] ? `unknown subcommand "${argv[1]}"` : 'missing subcommand'}; one of: ${group.map((c) => c.name.split(' ')[1]).join(', ')}\n`
        : `wharf: unknown command "${argv[0]}" (see wharf help)\n`,
    )
    return 2
  }
  const { command, rest } = found
  try {
    let parsed
    try {
      const options = { ...GLOBAL_OPTIONS, ...command.options }
      parsed = parseArgs({ args: joinNegativeValues(rest, options), options, allowPositionals: true, strict: true })
    } catch (err) {
      throw new UsageError((err as Error).message)
    }
    const values = parsed.values as Record<string, string | boolean | string[] | undefined>
    if (values.help) {
      io.stdout(`usage: ${command.usage}\n`)
      return 0
    }
    const url = (values['control-plane'] as string | undefined) ?? io.env.WHARF_CONTROL_PLANE_URL ?? DEFAULT_CONTROL_PLANE
    try {
      new URL(url)
    } catch {
      throw new UsageError(`--control-plane must be a URL such as ${DEFAULT_CONTROL_PLANE} (got "${url}")`)
    }
    let password = io.env.WHARF_PASSWORD
    if (values['password-stdin']) password = (await io.readStdin()).replace(/\r?\n$/, '')
    const api = new CliControlPlaneClient({
      url,
      username: (values.username as string | undefined) ?? io.env.WHARF_USERNAME,
      password,
      token: io.env.WHARF_TOKEN || undefined,
    })
    await command.run({ api, out: io.stdout, args: parsed.positionals, values, json: values.json === true })
    return 0
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`wharf ${command.name}: ${err.message}\nusage: ${command.usage}\n`)
      return 2
    }
    if (err instanceof ApiCallError) {
      io.stderr(`wharf ${command.name}: ${err.message}\n`)
      return 1
    }
    throw err
  }
}
