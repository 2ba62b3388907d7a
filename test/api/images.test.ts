import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiClient, createUser, type ApiClient } from '../helpers/api.ts'
import type { Credentials } from '../helpers/auth.ts'
import {
  descriptor,
  imageConfig,
  imageIndex,
  imageManifest,
  manifestDescriptor,
  pushBlob,
  pushImage,
  pushManifest,
} from '../helpers/oci-fixtures.ts'
import { getManifest } from '../helpers/registry-http.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'

let origin: Awaited<ReturnType<typeof startOrigin>>
let api: ApiClient
let alice: Credentials

const HISTORY = [
  { created: '2026-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop) ADD file:abc in / ' },
  { created: '2026-01-01T00:00:01Z', created_by: '/bin/sh -c #(nop)  ENV GREETING=<b>hi</b>', empty_layer: true },
  { created: '2026-01-01T00:00:02Z', created_by: 'RUN /bin/sh -c echo hi > /hi # buildkit' },
]

beforeAll(async () => {
  origin = await startOrigin()
  api = apiClient(origin.url)
  alice = await createUser(api, TEST_ADMIN, 'alice')
})
afterAll(async () => {
  await origin?.close()
})

describe('GET /api/v0/repositories/<name>/_tags and /_manifests/<ref>', () => {
  it('show each tag with its size, pusher, push time and last pull', async () => {
    const image = await pushImage(origin.url, 'admin/shop', {
      ref: 'v1',
      layers: 2,
      config: { history: HISTORY, config: { Env: ['GREETING=<b>hi</b>'], ExposedPorts: { '8080/tcp': {} } } },
    })
    const before = await api.call('GET', '/repositories/admin/shop/_tags', TEST_ADMIN)
    expect(before.status).toBe(200)
    expect(before.body.total).toBe(1)
    const tag = before.body.tags[0]
    expect(tag).toMatchObject({
      name: 'v1',
      digest: image.manifest.digest,
      kind: 'image',
      size: image.config.size + image.layers[0]!.size + image.layers[1]!.size,
      pushedBy: 'admin',
      pulledAt: null,
      platforms: [
        { os: 'linux', architecture: 'amd64', variant: null, digest: image.manifest.digest, size: expect.any(Number) },
      ],
    })
    expect(Date.parse(tag.pushedAt)).toBeGreaterThan(Date.now() - 60_000)
    expect((await getManifest(origin.url, 'admin/shop', 'v1')).status).toBe(200)
    const after = await api.call('GET', '/repositories/admin/shop/_tags', TEST_ADMIN)
    expect(after.body.tags[0].pulledAt).not.toBeNull()
  })

  it('align the Dockerfile lines with the layers, empty_layer steps without one', async () => {
    const res = await api.call('GET', '/repositories/admin/shop/_manifests/v1', TEST_ADMIN)
    expect(res.status).toBe(200)
    const layers = JSON.parse((await getManifest(origin.url, 'admin/shop', 'v1')).body.toString()).layers
    expect(res.body.steps.map((s: { line: string; layer?: { digest: string } }) => [s.line, s.layer?.digest])).toEqual([
      ['ADD file:abc in /', layers[0].digest],
      ['ENV GREETING=<b>hi</b>', undefined],
      ['RUN echo hi > /hi', layers[1].digest],
    ])
    expect(res.body.config).toMatchObject({ env: ['GREETING=<b>hi</b>'], exposedPorts: ['8080/tcp'], os: 'linux' })
    expect(res.body.tags).toEqual(['v1'])
  })

  it('list the platforms of an index and what refers to an image', async () => {
    const children = []
    for (const architecture of ['amd64', 'arm64']) {
      const child = await pushImage(origin.url, 'admin/multi', { config: { architecture } })
      children.push({ child, architecture })
    }
    const index = imageIndex({
      manifests: children.map(({ child, architecture }) =>
        manifestDescriptor(child.manifest, { platform: { os: 'linux', architecture } }),
      ),
    })
    await pushManifest(origin.url, 'admin/multi', 'latest', index)
    const tags = await api.call('GET', '/repositories/admin/multi/_tags', TEST_ADMIN)
    const latest = tags.body.tags.find((t: { name: string }) => t.name === 'latest')
    expect(latest.kind).toBe('index')
    expect(latest.platforms.map((p: { architecture: string; size: number }) => [p.architecture, p.size])).toEqual(
      children.map(({ child, architecture }) => [architecture, child.config.size + child.layers[0]!.size]),
    )

    // an SBOM-like artifact attached to the amd64 image
    const subject = children[0]!.child.manifest
    const cfg = imageConfig()
    await pushBlob(origin.url, 'admin/multi', cfg)
    const artifact = imageManifest({
      config: descriptor(cfg, 'application/vnd.example.sbom'),
      artifactType: 'application/vnd.example.sbom',
      subject: manifestDescriptor(subject),
    })
    await pushManifest(origin.url, 'admin/multi', artifact.digest, artifact)
    const image = await api.call('GET', `/repositories/admin/multi/_manifests/${subject.digest}`, TEST_ADMIN)
    expect(image.status).toBe(200)
    expect(image.body.referrers).toEqual([
      expect.objectContaining({ digest: artifact.digest, artifactType: 'application/vnd.example.sbom' }),
    ])
    const idx = await api.call('GET', '/repositories/admin/multi/_manifests/latest', TEST_ADMIN)
    expect(idx.body.kind).toBe('index')
    expect(idx.body.platforms).toHaveLength(2)
  })

  it('are "not found" to whoever may not see the repository, and say what is wrong with a bad reference', async () => {
    for (const path of ['/repositories/admin/shop/_tags', '/repositories/admin/shop/_manifests/v1']) {
      expect((await api.call('GET', path, alice)).status).toBe(404)
      expect((await api.call('GET', path)).status).toBe(404)
    }
    expect((await api.call('GET', '/repositories/admin/shop/_manifests/v9', TEST_ADMIN)).status).toBe(404)
    const bad = await api.call('GET', '/repositories/admin/shop/_manifests/sha256:zz', TEST_ADMIN)
    expect(bad.status).toBe(400)
    expect((await api.call('GET', '/repositories/admin/shop/_tags?offset=x', TEST_ADMIN)).status).toBe(400)
  })
})

describe('GET /api/v0/repositories/<name>/_events', () => {
  it('is what happened to that repository only, with addresses for its admins', async () => {
    await pushImage(origin.url, 'admin/shop-two', { ref: 'v1' })
    const res = await api.call('GET', '/repositories/admin/shop/_events', TEST_ADMIN)
    expect(res.status).toBe(200)
    const events = res.body.events as { action: string; target: string; address: string | null }[]
    expect(events.map((e) => e.action)).toEqual(expect.arrayContaining(['push', 'pull']))
    expect(events.every((e) => e.target === 'admin/shop' || /^admin\/shop[:@]/.test(e.target))).toBe(true)
    expect(events.find((e) => e.action === 'push')!.address).toBe('127.0.0.1')
    const pushes = await api.call('GET', '/repositories/admin/shop/_events?action=pull&limit=1', TEST_ADMIN)
    expect(pushes.body.events).toHaveLength(1)
    expect(pushes.body.next).not.toBeNull()

    // a push that moves a tag says so, from which manifest to which
    const first = await pushImage(origin.url, 'admin/shop', { ref: 'moving' })
    const second = await pushImage(origin.url, 'admin/shop', { ref: 'moving' })
    const moves = await api.call('GET', '/repositories/admin/shop/_events?action=tag.move', TEST_ADMIN)
    expect(moves.body.events).toEqual([
      expect.objectContaining({
        target: 'admin/shop:moving',
        detail: { from: first.manifest.digest, to: second.manifest.digest },
      }),
    ])

    expect((await api.call('GET', '/repositories/admin/shop/_events', alice)).status).toBe(404)
    expect(
      (await api.call('PUT', '/repositories/admin/shop/_grants/users/alice', TEST_ADMIN, { role: 'read' })).status,
    ).toBe(200)
    const read = await api.call('GET', '/repositories/admin/shop/_events', alice)
    expect(read.status).toBe(200)
    expect(read.body.events.length).toBeGreaterThan(0)
    expect(read.body.events.every((e: { address: string | null }) => e.address === null)).toBe(true)
  })
})
