/**
 * The origin behind Debian's HAProxy, as the scale-out layout puts it: the balancer health-checks /readyz, adds
 * X-Forwarded-For (believed from it through ORIGIN_TRUSTED_PROXIES), and docker logs in, pushes and pulls through
 * it with the balancer's address as the registry's public URL. One replica: replicas that share their state come
 * with the database layer of the scale-out issue.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { clientSandbox, describeWithClients, pulledDigest, pushedDigest } from '../helpers/clients.ts'
import { describeWithHaproxy, startHaproxy, type Balancer } from '../helpers/haproxy.ts'
import { freePort } from '../helpers/network.ts'
import { closeHttp } from '../helpers/registry-http.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'

describeWithHaproxy('an origin behind HAProxy', () => {
  describeWithClients('with docker', (clients) => {
    let origin: Awaited<ReturnType<typeof startOrigin>>
    let balancer: Balancer

    beforeAll(async () => {
      const port = await freePort()
      origin = await startOrigin({
        env: { ORIGIN_PUBLIC_URL: `http://127.0.0.1:${port}`, ORIGIN_TRUSTED_PROXIES: '127.0.0.1/32' },
      })
      balancer = await startHaproxy([origin.host], port)
    })
    afterAll(async () => {
      await balancer?.stop()
      await closeHttp(origin.url)
      await origin?.close()
    })

    it('answers /readyz and the registry through the balancer, with the token realm on its address', async () => {
      expect((await fetch(`${balancer.url}/readyz`)).status).toBe(200)
      const v2 = await fetch(`${balancer.url}/v2/`)
      expect(v2.status).toBe(401)
      expect(v2.headers.get('www-authenticate')).toContain(`realm="${balancer.url}/auth/token"`)
    })

    it("believes the balancer's X-Forwarded-For: a client's address is the one in front of it", async () => {
      // haproxy appends the address it saw (loopback, trusted) to what the client sent
      const res = await fetch(`${balancer.url}/api/v0/me`, {
        headers: {
          authorization: `Basic ${Buffer.from('admin:wrong password').toString('base64')}`,
          'x-forwarded-for': '203.0.113.7',
        },
      })
      expect(res.status).toBe(401)
      const failed = origin.deps.identity.events.list({ action: 'login', limit: 1 })[0]!
      expect(failed).toMatchObject({ outcome: 'failure', address: '203.0.113.7' })
    })

    it('takes docker login, push and pull through it, and records the client behind it', async () => {
      const sb = clientSandbox(clients, 'balancer')
      try {
        const host = new URL(balancer.url).host
        await sb.login(host, TEST_ADMIN)
        const ctx = join(sb.dir, 'ctx')
        mkdirSync(ctx)
        writeFileSync(join(ctx, 'a.bin'), randomBytes(3 * 1024 * 1024))
        writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.bin /a.bin\n')
        const ref = `${host}/admin/balanced:v1`
        await sb.docker(['build', '-t', ref, ctx])
        const pushed = pushedDigest((await sb.docker(['push', ref])).output)
        await sb.docker(['rmi', ref])
        expect(pulledDigest((await sb.docker(['pull', ref])).output)).toBe(pushed)
        await sb.docker(['rmi', ref])
        const push = origin.deps.identity.events.list({ action: 'push', limit: 1 })[0]!
        expect(push.target).toBe('admin/balanced:v1')
        expect(push.address).toBe('127.0.0.1')
      } finally {
        sb.cleanup()
      }
    })
  })
})
