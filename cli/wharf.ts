/**
 * `wharf`: the command-line tool of the control plane (sites, join tokens, assignments, networks, reports, client
 * configuration). See `wharf help`.
 */
import { run } from './run.ts'

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

run(process.argv.slice(2), {
  env: process.env,
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  readStdin,
}).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    console.error(`wharf: unexpected error: ${(err as Error).stack ?? String(err)}`)
    process.exitCode = 1
  },
)
