/** An in-process origin wired to a fake control plane, sharing a clock tests can move forward. */
import { apiClient, type ApiClient } from './api.ts'
import { startFakeControlPlane, type FakeControlPlane, type FakeSite } from './fake-control-plane-resolver.ts'
import { closeHttp } from './registry-http.ts'
import { startOrigin } from './start-origin.ts'

export interface OriginWithControlPlane {
  origin: Awaited<ReturnType<typeof startOrigin>>
  fake: FakeControlPlane
  api: ApiClient
  /** Moves the shared clock (origin and fake) forward. */
  advance(ms: number): void
  now(): number
  close(): Promise<void>
}

export async function startOriginWithControlPlane(
  opts: { sites?: FakeSite[]; env?: Record<string, string>; logLines?: Record<string, unknown>[] } = {},
): Promise<OriginWithControlPlane> {
  let offset = 0
  const now = () => Date.now() + offset
  const fake = await startFakeControlPlane({ sites: opts.sites, now })
  const origin = await startOrigin({
    env: { ORIGIN_CONTROL_PLANE_URL: fake.url, ...opts.env },
    now,
    logLines: opts.logLines,
  })
  fake.trust(origin.url)
  return {
    origin,
    fake,
    api: apiClient(origin.url),
    advance: (ms) => void (offset += ms),
    now,
    async close() {
      await closeHttp(origin.url)
      await origin.close()
      await fake.close()
    },
  }
}
