/**
 * End-to-end tests with real registry clients (docker, podman, skopeo, ctr) against the origin.
 *
 * The client daemons come from `scripts/clients.sh up` (see test/helpers/clients.ts): without them these
 * suites are skipped with a warning, or fail when WHARF_REQUIRE_CLIENTS=1. The HTTP Range suite needs no
 * clients and always runs.
 *
 *   WHARF_E2E_REFERENCE=1     also run everything against the CNCF distribution registry (docker-registry)
 *   WHARF_E2E_REFERENCE=only  run only against the reference registry (to check the tests themselves)
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  clientSandbox,
  describeWithClients,
  isDigest,
  pulledDigest,
  pushedDigest,
  run,
  sha256,
  type ClientSandbox,
} from '../helpers/clients.ts'
import { referenceRegistryAvailable, startReferenceRegistry } from '../helpers/reference-registry.ts'
import { closeHttp, getBlob, getManifest, headBlob, putBlob } from '../helpers/registry-http.ts'
import { startOrigin, TEST_ADMIN } from '../helpers/start-origin.ts'

interface Started {
  url: string
  host: string
  close(): Promise<void>
  /** the registry's recent log, to explain a failure */
  logTail(): string
}

interface Target {
  name: string
  start(): Promise<Started>
}

const targets: Target[] = []
if (process.env.WHARF_E2E_REFERENCE !== 'only') {
  targets.push({
    name: 'wharf origin',
    start: async () => {
      const logLines: Record<string, unknown>[] = []
      const o = await startOrigin({ logLines })
      return { url: o.url, host: o.host, close: () => o.close(), logTail: () => summarizeOriginLog(logLines) }
    },
  })
}
if (process.env.WHARF_E2E_REFERENCE && referenceRegistryAvailable()) {
  targets.push({
    name: 'reference docker-registry',
    start: async () => {
      const r = await startReferenceRegistry()
      return { ...r, logTail: () => readFileSync(r.logFile, 'utf8').split('\n').slice(-60).join('\n') }
    },
  })
}

/** The origin's last request lines (method path → status) and every warning/error, oldest first. */
function summarizeOriginLog(lines: Record<string, unknown>[]): string {
  const out: string[] = []
  for (const l of lines.slice(-80)) {
    if (l.msg === 'request') {
      out.push(
        `${String(l.method)} ${String(l.path)} → ${String(l.status)}${l.bytesOut !== undefined ? ` ${String(l.bytesOut)}B` : ''}${l.aborted ? ' ABORTED' : ''} ${String(l.ms)}ms`,
      )
    } else {
      const { level, msg, err } = l as { level?: number; msg?: string; err?: unknown }
      out.push(`[level ${String(level)}] ${String(msg)}${err ? ` ${JSON.stringify(err)}` : ''}`)
    }
  }
  return out.join('\n')
}

/** Runs a test body; on failure the registry's recent log is appended to the error message. */
async function explained(origin: Started, fn: () => Promise<void>): Promise<void> {
  try {
    await fn()
  } catch (err) {
    if (err instanceof Error) err.message += `\n--- registry log (recent) ---\n${origin.logTail()}`
    throw err
  }
}

const DOCKER_V2 = 'application/vnd.docker.distribution.manifest.v2+json'
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'

interface Descriptor {
  mediaType?: string
  digest: string
  size: number
}
interface ImageManifest {
  schemaVersion: number
  mediaType?: string
  config: Descriptor
  layers: Descriptor[]
}

const uid = (): string => randomBytes(5).toString('hex')

/** A `FROM scratch` build context with two COPY layers; b.bin is `bigBytes` of random data. */
function buildContext(dir: string, bigBytes: number): string {
  const ctx = join(dir, 'ctx')
  mkdirSync(ctx)
  writeFileSync(join(ctx, 'a.txt'), `wharf e2e ${uid()}\n`)
  writeFileSync(join(ctx, 'b.bin'), randomBytes(bigBytes))
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a.txt\nCOPY b.bin /data/b.bin\nCMD ["/a.txt"]\n')
  return ctx
}

async function dockerInspect(sb: ClientSandbox, ref: string, format: string): Promise<string> {
  return (await sb.docker(['image', 'inspect', '--format', format, ref])).stdout.trim()
}

/** Builds (legacy builder) and pushes; returns the digest docker push printed. */
async function dockerBuildPush(sb: ClientSandbox, ref: string, bigBytes: number): Promise<string> {
  await sb.docker(['build', '-t', ref, buildContext(sb.dir, bigBytes)], { env: { DOCKER_BUILDKIT: '0' } })
  return pushedDigest((await sb.docker(['push', ref])).output)
}

/** The manifest as the registry serves it; asserts that its bytes hash to `digest`. */
async function expectManifest(baseUrl: string, repo: string, ref: string, digest: string): Promise<ImageManifest> {
  const m = await getManifest(baseUrl, repo, ref)
  expect(m.status, `GET /v2/${repo}/manifests/${ref}: ${m.body.toString('utf8')}`).toBe(200)
  expect(sha256(m.body)).toBe(digest)
  expect(m.headers['docker-content-digest']).toBe(digest)
  return JSON.parse(m.body.toString('utf8')) as ImageManifest
}

/** Every blob of the manifest is served with the right bytes. */
async function expectBlobs(baseUrl: string, repo: string, manifest: ImageManifest): Promise<void> {
  for (const d of [manifest.config, ...manifest.layers]) {
    const b = await getBlob(baseUrl, repo, d.digest)
    expect(b.status, `GET /v2/${repo}/blobs/${d.digest}`).toBe(200)
    expect(b.body.length).toBe(d.size)
    expect(sha256(b.body)).toBe(d.digest)
  }
}

/** Checks a skopeo `dir:` copy: manifest.json hashes to `digest`, every blob file is named by its own digest. */
function expectDirCopy(dir: string, digest: string): ImageManifest {
  const raw = readFileSync(join(dir, 'manifest.json'))
  expect(sha256(raw)).toBe(digest)
  const manifest = JSON.parse(raw.toString('utf8')) as ImageManifest
  const files = readdirSync(dir)
  for (const d of [manifest.config, ...manifest.layers]) {
    const hex = d.digest.replace(/^sha256:/, '')
    expect(files).toContain(hex)
    const file = join(dir, hex)
    expect(statSync(file).size).toBe(d.size)
    expect(sha256(readFileSync(file))).toBe(d.digest)
  }
  return manifest
}

for (const target of targets) {
  describeWithClients(`real clients → ${target.name}`, (clients) => {
    let origin: Started

    beforeAll(async () => {
      origin = await target.start()
    })
    afterAll(async () => {
      if (!origin) return
      await closeHttp(origin.url)
      await origin.close()
    })

    it('docker build (2 layers) → push → rmi → pull keeps the digest', () =>
      explained(origin, async () => {
        const sb = clientSandbox(clients, 'docker')
        await sb.login(origin.host, TEST_ADMIN)
        const repo = `e2e/docker-${uid()}`
        const ref = `${origin.host}/${repo}:v1`
        let pushed = ''
        try {
          await sb.docker(['build', '-t', ref, buildContext(sb.dir, 3 << 20)])
          const imageId = await dockerInspect(sb, ref, '{{.Id}}')
          expect(JSON.parse(await dockerInspect(sb, ref, '{{json .RootFS.Layers}}'))).toHaveLength(2)

          pushed = pushedDigest((await sb.docker(['push', ref])).output)
          const manifest = await expectManifest(origin.url, repo, 'v1', pushed)
          expect(manifest.mediaType).toBe(DOCKER_V2)
          expect(manifest.config.digest).toBe(imageId)
          expect(manifest.layers).toHaveLength(2)
          await expectBlobs(origin.url, repo, manifest)

          await sb.docker(['rmi', ref])
          await expect(sb.docker(['image', 'inspect', ref])).rejects.toThrow(/No such image/i)

          const pull = await sb.docker(['pull', ref])
          expect(pull.output).toMatch(/Downloaded newer image/)
          expect(pulledDigest(pull.output)).toBe(pushed)
          expect(await dockerInspect(sb, ref, '{{index .RepoDigests 0}}')).toBe(`${origin.host}/${repo}@${pushed}`)
          expect(await dockerInspect(sb, ref, '{{.Id}}')).toBe(imageId)

          // and by digest (manifest GET by digest rather than by tag)
          const byDigest = await sb.docker(['pull', `${origin.host}/${repo}@${pushed}`])
          expect(pulledDigest(byDigest.output)).toBe(pushed)
        } finally {
          await sb.docker(['rmi', '-f', ref]).catch(() => undefined)
          if (pushed) await sb.docker(['rmi', '-f', `${origin.host}/${repo}@${pushed}`]).catch(() => undefined)
          sb.cleanup()
        }
      }))

    it('podman import → push (OCI, then v2s2 to another repo) → rmi → pull keeps the digests', () =>
      explained(origin, async () => {
        const sb = clientSandbox(clients, 'podman')
        await sb.login(origin.host, TEST_ADMIN)
        const id = uid()
        const repo = `e2e/podman-${id}`
        const repo2 = `e2e/podman-${id}-v2s2`
        const ref = `${origin.host}/${repo}:v1`
        const ref2 = `${origin.host}/${repo2}:v1`
        try {
          const rootfs = join(sb.dir, 'rootfs')
          mkdirSync(join(rootfs, 'data'), { recursive: true })
          writeFileSync(join(rootfs, 'hello.txt'), `wharf podman ${uid()}\n`)
          writeFileSync(join(rootfs, 'data', 'blob.bin'), randomBytes(1 << 20))
          const tarball = join(sb.dir, 'rootfs.tar')
          await run('tar', ['-C', rootfs, '-cf', tarball, '.'])
          // a real file, not a process substitution: podman import <(…) silently makes an empty layer
          await sb.podman(['import', tarball, ref])
          const imageId = (await sb.podman(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim()

          const digestFile = join(sb.dir, 'push.digest')
          await sb.podman(['push', '--tls-verify=false', '--digestfile', digestFile, ref])
          const pushed = readFileSync(digestFile, 'utf8').trim()
          expect(isDigest(pushed), pushed).toBe(true)
          const manifest = await expectManifest(origin.url, repo, 'v1', pushed)
          expect(manifest.layers).toHaveLength(1)
          expect(manifest.config.digest).toBe(`sha256:${imageId}`)
          await expectBlobs(origin.url, repo, manifest)

          // the same image as Docker v2 schema 2 into another repository (blobs may be cross-mounted)
          const digestFile2 = join(sb.dir, 'push2.digest')
          await sb.podman(['tag', ref, ref2])
          await sb.podman(['push', '--tls-verify=false', '--format', 'v2s2', '--digestfile', digestFile2, ref2])
          const pushed2 = readFileSync(digestFile2, 'utf8').trim()
          expect(isDigest(pushed2), pushed2).toBe(true)
          const manifest2 = await expectManifest(origin.url, repo2, 'v1', pushed2)
          expect(manifest2.mediaType).toBe(DOCKER_V2)
          expect(manifest2.layers.map((l) => l.digest)).toEqual(manifest.layers.map((l) => l.digest))
          await expectBlobs(origin.url, repo2, manifest2)

          await sb.podman(['rmi', '-f', ref, ref2])
          await expect(sb.podman(['image', 'exists', ref])).rejects.toThrow()

          await sb.podman(['pull', '--tls-verify=false', ref])
          expect((await sb.podman(['image', 'inspect', '--format', '{{.Digest}}', ref])).stdout.trim()).toBe(pushed)
          expect((await sb.podman(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim()).toBe(imageId)
          const repoDigests = (await sb.podman(['image', 'inspect', '--format', '{{json .RepoDigests}}', ref])).stdout
          expect(JSON.parse(repoDigests)).toContain(`${origin.host}/${repo}@${pushed}`)

          await sb.podman(['pull', '--tls-verify=false', `${origin.host}/${repo2}@${pushed2}`])
          const got2 = await sb.podman([
            'image',
            'inspect',
            '--format',
            '{{json .RepoDigests}}',
            `${origin.host}/${repo2}@${pushed2}`,
          ])
          expect(JSON.parse(got2.stdout)).toContain(`${origin.host}/${repo2}@${pushed2}`)
        } finally {
          // by image ID: the pull by digest leaves an image without a tag
          const ids = await sb
            .podman(['images', '--filter', `reference=${origin.host}/e2e/podman-${id}*`, '--format', '{{.ID}}'])
            .then(
              (r) => [...new Set(r.stdout.split('\n').filter(Boolean))],
              () => [],
            )
          if (ids.length > 0) await sb.podman(['rmi', '-f', ...ids]).catch(() => undefined)
          sb.cleanup()
        }
      }))

    it('skopeo copy: docker-archive → registry → dir:, and --format oci registry → registry', () =>
      explained(origin, async () => {
        const sb = clientSandbox(clients, 'skopeo')
        await sb.login(origin.host, TEST_ADMIN)
        const id = uid()
        const built = `wharf-e2e/skopeo-src-${id}:v1`
        const repoA = `e2e/skopeo-${id}/a`
        const repoB = `e2e/skopeo-${id}/b`
        const srcA = `docker://${origin.host}/${repoA}:archive`
        const dstB = `docker://${origin.host}/${repoB}:oci`
        try {
          await sb.docker(['build', '-t', built, buildContext(sb.dir, 1 << 20)])
          const archive = join(sb.dir, 'image.tar')
          await sb.docker(['save', '-o', archive, built])

          const d1File = join(sb.dir, 'a.digest')
          await sb.skopeo([
            'copy',
            '--dest-tls-verify=false',
            '--digestfile',
            d1File,
            `docker-archive:${archive}`,
            srcA,
          ])
          const d1 = readFileSync(d1File, 'utf8').trim()
          expect(isDigest(d1), d1).toBe(true)
          const rawA = (await sb.skopeo(['inspect', '--tls-verify=false', '--raw', srcA])).stdout
          expect(sha256(rawA)).toBe(d1)
          const manifestA = await expectManifest(origin.url, repoA, 'archive', d1)
          expect(manifestA.layers).toHaveLength(2)
          expect(manifestA.config.digest).toBe(await dockerInspect(sb, built, '{{.Id}}'))

          // registry → dir: the manifest and every blob, each matching its digest
          const dirA = join(sb.dir, 'dir-a')
          await sb.skopeo(['copy', '--src-tls-verify=false', srcA, `dir:${dirA}`])
          const fromDir = expectDirCopy(dirA, d1)
          expect(fromDir.layers.map((l) => l.digest)).toEqual(manifestA.layers.map((l) => l.digest))

          // registry → registry converted to OCI
          const d2File = join(sb.dir, 'b.digest')
          await sb.skopeo([
            'copy',
            '--src-tls-verify=false',
            '--dest-tls-verify=false',
            '--format',
            'oci',
            '--digestfile',
            d2File,
            srcA,
            dstB,
          ])
          const d2 = readFileSync(d2File, 'utf8').trim()
          expect(isDigest(d2), d2).toBe(true)
          expect(d2).not.toBe(d1)
          const rawB = (await sb.skopeo(['inspect', '--tls-verify=false', '--raw', dstB])).stdout
          expect(sha256(rawB)).toBe(d2)
          const getB = await getManifest(origin.url, repoB, 'oci')
          expect(getB.status).toBe(200)
          expect(getB.headers['content-type']).toBe(OCI_MANIFEST)
          const manifestB = await expectManifest(origin.url, repoB, 'oci', d2)
          expect(manifestB.mediaType).toBe(OCI_MANIFEST)
          expect(manifestB.layers.map((l) => l.digest)).toEqual(manifestA.layers.map((l) => l.digest))
          await expectBlobs(origin.url, repoB, manifestB)

          const dirB = join(sb.dir, 'dir-b')
          await sb.skopeo(['copy', '--src-tls-verify=false', dstB, `dir:${dirB}`])
          expectDirCopy(dirB, d2)

          const tags = JSON.parse(
            (await sb.skopeo(['list-tags', '--tls-verify=false', `docker://${origin.host}/${repoB}`])).stdout,
          ) as {
            Tags: string[]
          }
          expect(tags.Tags).toEqual(['oci'])
        } finally {
          await sb.docker(['rmi', '-f', built]).catch(() => undefined)
          sb.cleanup()
        }
      }))

    it('ctr image pull --plain-http resolves the pushed digest', () =>
      explained(origin, async () => {
        const sb = clientSandbox(clients, 'ctr')
        await sb.login(origin.host, TEST_ADMIN)
        const repo = `e2e/ctr-${uid()}`
        const ref = `${origin.host}/${repo}:v1`
        try {
          const pushed = await dockerBuildPush(sb, ref, 256 << 10)
          const manifest = await expectManifest(origin.url, repo, 'v1', pushed)

          const pull = await sb.ctr(['image', 'pull', '--plain-http', '--user', `${TEST_ADMIN.username}:${TEST_ADMIN.password}`, '--snapshotter', 'native', ref])
          expect(pull.output).toContain(pushed.slice('sha256:'.length))

          const ls = await sb.ctr(['image', 'ls'])
          const line = ls.stdout.split('\n').find((l) => l.startsWith(`${ref} `))
          expect(line, ls.stdout).toBeDefined()
          expect(line?.split(/\s+/)[2]).toBe(pushed)

          const content = (await sb.ctr(['content', 'ls', '--quiet'])).stdout
          for (const d of [manifest.config, ...manifest.layers]) expect(content).toContain(d.digest)
        } finally {
          await sb.docker(['rmi', '-f', ref]).catch(() => undefined)
          await sb.ctr(['image', 'rm', '--sync', ref]).catch(() => undefined)
          await sb.ctr(['snapshots', '--snapshotter', 'native', 'ls']).then(
            async (r) => {
              const keys = r.stdout
                .split('\n')
                .slice(1)
                .map((l) => l.split(/\s+/)[0])
                .filter((k): k is string => !!k)
              for (const k of keys.reverse())
                await sb.ctr(['snapshots', '--snapshotter', 'native', 'rm', k]).catch(() => undefined)
            },
            () => undefined,
          )
          await run('ctr', ['-a', clients.containerdSock, 'namespaces', 'rm', sb.ctrNamespace]).catch(() => undefined)
          sb.cleanup()
        }
      }))
  })
}

for (const target of targets) {
  describe(`blob GET with Range (resumed pull) → ${target.name}`, () => {
    let origin: Started

    beforeAll(async () => {
      origin = await target.start()
    })
    afterAll(async () => {
      if (!origin) return
      await closeHttp(origin.url)
      await origin.close()
    })

    it('a pull interrupted after N bytes resumes with Range: bytes=N- (206, Content-Range, exact tail)', () =>
      explained(origin, async () => {
        const repo = `e2e/range-${uid()}`
        const data = randomBytes((2 << 20) + 12345)
        const digest = sha256(data)
        const put = await putBlob(origin.url, repo, data, digest)
        expect(put.status, put.body.toString('utf8')).toBe(201)
        expect(put.headers['docker-content-digest']).toBe(digest)

        const head = await headBlob(origin.url, repo, digest)
        expect(head.status).toBe(200)
        expect(Number(head.headers['content-length'])).toBe(data.length)

        for (const n of [1, 1 << 20, data.length - 1]) {
          const res = await getBlob(origin.url, repo, digest, { range: `bytes=${n}-` })
          expect(res.status, `Range: bytes=${n}-`).toBe(206)
          expect(res.headers['content-range']).toBe(`bytes ${n}-${data.length - 1}/${data.length}`)
          expect(Number(res.headers['content-length'])).toBe(data.length - n)
          expect(res.body.equals(data.subarray(n))).toBe(true)
        }

        // the "interrupted" first half plus the resumed tail reassemble to the digest
        const n = 777_777
        const first = await getBlob(origin.url, repo, digest, { range: `bytes=0-${n - 1}` })
        expect([200, 206]).toContain(first.status)
        const head0 = first.body.subarray(0, n)
        const rest = await getBlob(origin.url, repo, digest, { range: `bytes=${n}-` })
        expect(rest.status).toBe(206)
        expect(sha256(Buffer.concat([head0, rest.body]))).toBe(digest)

        // a full GET is still the whole blob
        const full = await getBlob(origin.url, repo, digest)
        expect(full.status).toBe(200)
        expect(sha256(full.body)).toBe(digest)
      }))
  })
}
