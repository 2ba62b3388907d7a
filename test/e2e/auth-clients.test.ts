/**
 * Token authentication with real clients: docker login (and the refresh token it keeps), podman login with a
 * personal access token, anonymous pulls of public repositories, and refusals of private ones.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { apiClient, createUser, type ApiClient } from '../helpers/api.ts'
import type { Credentials } from '../helpers/auth.ts'
import { clientSandbox, describeWithClients, pushedDigest, run, type ClientSandbox } from '../helpers/clients.ts'
import { closeHttp } from '../helpers/registry-http.ts'
import { startOrigin, TEST_ADMIN, type RunningOrigin } from '../helpers/start-origin.ts'
import type { OriginDeps } from '../../origin/deps.ts'

const uid = () => randomBytes(4).toString('hex')

function buildContext(sb: ClientSandbox): string {
  const ctx = join(sb.dir, `ctx-${uid()}`)
  mkdirSync(ctx)
  writeFileSync(join(ctx, 'a.txt'), `auth e2e ${uid()}\n`)
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a.txt\nCMD ["/a.txt"]\n')
  return ctx
}

async function dockerLogin(sb: ClientSandbox, host: string, creds: Credentials) {
  return sb.docker(['login', '-u', creds.username, '--password-stdin', host], { input: creds.password })
}

describeWithClients('docker and podman against an origin that requires tokens', (clients) => {
  let origin: RunningOrigin & { deps: OriginDeps }
  let api: ApiClient
  let dev: Credentials

  beforeAll(async () => {
    origin = await startOrigin()
    api = apiClient(origin.url)
    dev = await createUser(api, TEST_ADMIN, 'dev')
  })
  afterAll(async () => {
    await closeHttp(origin.url)
    await origin.close()
  })

  it('docker login keeps a refresh token, and a later push goes through the refresh grant', async () => {
    const sb = clientSandbox(clients, 'docker-login')
    try {
      const bad = await dockerLogin(sb, origin.host, { username: 'dev', password: 'not-the-password' }).catch((e: Error) => e)
      expect(bad).toBeInstanceOf(Error)
      expect(String(bad)).toContain('unauthorized: invalid username or password')

      expect((await dockerLogin(sb, origin.host, dev)).output).toContain('Login Succeeded')
      const config = JSON.parse(readFileSync(join(sb.env.DOCKER_CONFIG!, 'config.json'), 'utf8')) as {
        auths: Record<string, { identitytoken?: string; auth?: string }>
      }
      const entry = config.auths[origin.host]
      // docker stores the refresh token in place of the password: the password is not on disk
      expect(entry?.identitytoken).toMatch(/^wharf_rt_/)
      expect(Buffer.from(entry?.auth ?? '', 'base64').toString()).toBe('dev:')

      const ref = `${origin.host}/dev/app:v1`
      await sb.docker(['build', '-t', ref, buildContext(sb)], { env: { DOCKER_BUILDKIT: '0' } })
      const pushed = pushedDigest((await sb.docker(['push', ref])).output)
      const repo = await api.call('GET', '/repositories/dev/app', dev)
      expect(repo.status).toBe(200)
      expect(repo.body.visibility).toBe('private')

      // the refresh token was what authenticated the push: it has been used since the login
      const account = origin.deps.identity.accounts.byName('dev')!
      const refresh = origin.deps.identity.accessStore.tokensOf(account.id, 'refresh')
      expect(refresh.some((t) => t.lastUsedAt !== null)).toBe(true)
      const events = origin.deps.identity.events.list({ actor: 'dev', action: 'push', limit: 10 })
      expect(events.map((e) => e.detail?.digest)).toContain(pushed)

      await sb.docker(['rmi', ref])
      await sb.docker(['pull', ref])
    } finally {
      sb.cleanup()
    }
  })

  it('podman logs in with a personal access token and pushes and pulls', async () => {
    const created = await api.call('POST', '/accounts/dev/tokens', dev, { name: 'podman' })
    expect(created.status).toBe(201)
    const pat = created.body.token as string
    const sb = clientSandbox(clients, 'podman-pat')
    try {
      await sb.podman(['login', '--tls-verify=false', '-u', 'dev', '--password-stdin', origin.host], { input: pat })
      const tarball = join(sb.dir, 'rootfs.tar')
      const rootfs = join(sb.dir, 'rootfs')
      mkdirSync(rootfs)
      writeFileSync(join(rootfs, 'x.txt'), `pat ${uid()}\n`)
      await run('tar', ['-C', rootfs, '-cf', tarball, '.'])
      const ref = `${origin.host}/dev/podman:v1`
      await sb.podman(['import', tarball, ref])
      await sb.podman(['push', '--tls-verify=false', ref])
      await sb.podman(['rmi', '-f', ref])
      await sb.podman(['pull', '--tls-verify=false', ref])

      // revoked, the token no longer logs in
      await api.call('DELETE', `/accounts/dev/tokens/${created.body.id as string}`, dev)
      await sb.podman(['logout', origin.host])
      const refused = await sb
        .podman(['login', '--tls-verify=false', '-u', 'dev', '--password-stdin', origin.host], { input: pat })
        .catch((e: Error) => e)
      expect(refused).toBeInstanceOf(Error)
    } finally {
      sb.cleanup()
    }
  })

  it('pulls a public repository anonymously, and refuses a private one', async () => {
    const owner = clientSandbox(clients, 'owner')
    const anon = clientSandbox(clients, 'anonymous')
    try {
      await dockerLogin(owner, origin.host, dev)
      const pub = `${origin.host}/dev/public:v1`
      const priv = `${origin.host}/dev/secret:v1`
      for (const ref of [pub, priv]) {
        await owner.docker(['build', '-t', ref, buildContext(owner)], { env: { DOCKER_BUILDKIT: '0' } })
        await owner.docker(['push', ref])
        await owner.docker(['rmi', ref])
      }
      expect((await api.call('PATCH', '/repositories/dev/public', dev, { visibility: 'public' })).status).toBe(200)

      // a fresh docker config: no login at all
      const pulled = await anon.docker(['pull', pub])
      expect(pulled.output).toContain('Downloaded newer image')
      const refused = await anon.docker(['pull', priv]).catch((e: Error) => e)
      expect(refused).toBeInstanceOf(Error)
      expect(String(refused)).toMatch(/denied|unauthorized|authentication required/i)
      await anon.docker(['rmi', pub])
    } finally {
      owner.cleanup()
      anon.cleanup()
    }
  })
})
