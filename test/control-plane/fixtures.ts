import { randomUUID } from 'node:crypto'
import { SignJWT } from 'jose'
import { apiClient, type ApiClient, type Auth } from '../helpers/api.ts'
import { tokenFor } from '../helpers/auth.ts'
import { startControlPlane, type StartControlPlaneOptions } from '../helpers/start-control-plane.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'

export const ADMIN_SCOPE = 'controlplane:admin:*'

/** A real origin and a control plane trusting it, with an admin token and API clients for both. */
export async function startNetwork(opts: Omit<StartControlPlaneOptions, 'originUrl'> = {}) {
  const origin = await startOrigin()
  const cp = await startControlPlane({ originUrl: origin.url, ...opts })
  const api: ApiClient = apiClient(cp.url)
  const originApi: ApiClient = apiClient(origin.url)
  const admin: Auth = { bearer: await tokenFor(origin.url, [ADMIN_SCOPE], TEST_ADMIN) }
  return {
    origin,
    cp,
    api,
    originApi,
    admin,
    /** The origin's own service token (`controlplane:origin:*`), signed with its key as the origin does. */
    async originToken(): Promise<Auth> {
      const { tokens, keys } = origin.deps.identity
      const { kid, key } = keys.signing()
      const now = Math.floor(Date.now() / 1000)
      const token = await new SignJWT({ access: [{ type: 'controlplane', name: 'origin', actions: ['*'] }] })
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid })
        .setIssuer(tokens.issuer)
        .setSubject('wharf-origin')
        .setAudience(tokens.service)
        .setIssuedAt(now)
        .setNotBefore(now - 1)
        .setExpirationTime(now + 300)
        .setJti(randomUUID())
        .sign(key)
      return { bearer: token }
    },
    /** Creates a join token (admin) and joins with it; answers the join's body. */
    async join(body: Record<string, unknown>, token: Record<string, unknown> = {}) {
      const jt = await api.call('POST', '/join-tokens', admin, token)
      if (jt.status !== 201) throw new Error(`join token: ${jt.status} ${JSON.stringify(jt.body)}`)
      const res = await api.call('POST', '/join', { bearer: jt.body.token }, { version: 'test', ...body })
      if (res.status !== 200) throw new Error(`join: ${res.status} ${JSON.stringify(res.body)}`)
      return res.body as { site: { id: string; name: string }; credential: string; heartbeatIntervalMs: number }
    },
    async close() {
      await cp.close()
      await origin.close()
    },
  }
}

export type Network = Awaited<ReturnType<typeof startNetwork>>

/** A heartbeat body. */
export const beat = (extra: Record<string, unknown> = {}) => ({
  version: '1.0.0',
  diskUsedBytes: 100,
  diskFreeBytes: 900,
  capacityBytes: 1000,
  hitRatio: 0.5,
  ...extra,
})
