/**
 * A real Debian image for the docker-pull scenario, built ONCE from Debian's packages and kept in bench/.cache:
 *
 *   mmdebstrap --variant=minbase --mode=root --format=tar bookworm rootfs.tar [host sources]
 *   → one gzip layer (level 6) + an OCI image config + an OCI image manifest, written as an OCI image layout
 *     (bench/.cache/debian-bookworm/: oci-layout, index.json, blobs/sha256/…), which `skopeo copy oci:…` also reads.
 *
 * Each run imports the same bytes (same digests) into every registry under test with the bench's own client, so
 * both sides serve byte-identical images. The layout is only written after everything in it is complete.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream, existsSync } from 'node:fs'
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { promisify } from 'node:util'
import { createGzip } from 'node:zlib'
import type { BlobFile } from './blob-file.ts'
import { DEFAULT_CACHE_DIR } from './blob-file.ts'
import type { BenchClient } from './registry-client.ts'
import { MiB } from './units.ts'

const run = promisify(execFile)

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json'
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip'

export interface DebianImage {
  dir: string
  suite: string
  layer: BlobFile
  config: Buffer
  configDigest: string
  manifest: Buffer
  manifestDigest: string
  /** Uncompressed size of the root file system tar. */
  rootfsBytes: number
}

/** The cached image, building it with mmdebstrap first when it is missing. */
export async function ensureDebianImage(
  opts: { cacheDir?: string; suite?: string; log?: (msg: string) => void } = {},
): Promise<DebianImage> {
  const suite = opts.suite ?? 'bookworm'
  const dir = join(opts.cacheDir ?? DEFAULT_CACHE_DIR, `debian-${suite}`)
  if (!existsSync(join(dir, 'index.json'))) await build(dir, suite, opts.log)
  return load(dir, suite)
}

async function build(dir: string, suite: string, log?: (msg: string) => void): Promise<void> {
  const tmp = `${dir}.${process.pid}.tmp`
  await rm(tmp, { recursive: true, force: true })
  await mkdir(join(tmp, 'blobs', 'sha256'), { recursive: true })
  const rootfs = join(tmp, 'rootfs.tar')
  // the host's own apt sources when there are some (its mirror, its snapshot), Debian's default mirror otherwise
  const sources = ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list'].find((f) => existsSync(f))
  const args = [
    '--variant=minbase',
    '--mode=root',
    '--format=tar',
    '--aptopt=Acquire::Check-Valid-Until "false"',
    suite,
    rootfs,
    ...(sources ? [sources] : []),
  ]
  log?.(`building the Debian ${suite} image once: mmdebstrap ${args.join(' ')}`)
  const t0 = performance.now()
  await run('mmdebstrap', args, { timeout: 15 * 60_000, maxBuffer: 64 * MiB })
  log?.(`mmdebstrap done in ${Math.round((performance.now() - t0) / 1000)} s; compressing the layer`)

  // one pass: hash the uncompressed tar (diff_id), gzip it, hash the compressed bytes (layer digest)
  const diff = createHash('sha256')
  const comp = createHash('sha256')
  let compressed = 0
  const layerTmp = join(tmp, 'layer.tar.gz')
  await pipeline(
    createReadStream(rootfs, { highWaterMark: MiB }),
    tap((b) => diff.update(b)),
    createGzip({ level: 6, chunkSize: 256 * 1024 }),
    tap((b) => {
      comp.update(b)
      compressed += b.byteLength
    }),
    createWriteStream(layerTmp),
  )
  const rootfsBytes = (await stat(rootfs)).size
  await rm(rootfs)
  const diffId = `sha256:${diff.digest('hex')}`
  const layerDigest = `sha256:${comp.digest('hex')}`
  await rename(layerTmp, blobPath(tmp, layerDigest))

  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: '2025-05-20T00:00:00Z',
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['bash'] },
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created: '2025-05-20T00:00:00Z', created_by: `mmdebstrap --variant=minbase ${suite}` }],
    }),
  )
  const configDigest = sha256(config)
  await writeFile(blobPath(tmp, configDigest), config)
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.byteLength },
      layers: [{ mediaType: OCI_LAYER_GZIP, digest: layerDigest, size: compressed }],
    }),
  )
  const manifestDigest = sha256(manifest)
  await writeFile(blobPath(tmp, manifestDigest), manifest)
  await writeFile(join(tmp, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  await writeFile(
    join(tmp, 'rootfs-bytes'),
    `${rootfsBytes}\n`, // kept for the report: the uncompressed size docker extracts
  )
  // index.json last: its presence marks a complete layout
  await writeFile(
    join(tmp, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: OCI_MANIFEST,
          digest: manifestDigest,
          size: manifest.byteLength,
          annotations: { 'org.opencontainers.image.ref.name': suite },
        },
      ],
    }),
  )
  await rm(dir, { recursive: true, force: true })
  await rename(tmp, dir)
  log?.(`Debian ${suite} image: layer ${layerDigest} (${compressed} B gzip, ${rootfsBytes} B tar) in ${dir}`)
}

async function load(dir: string, suite: string): Promise<DebianImage> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as {
    manifests: { digest: string }[]
  }
  const manifestDigest = index.manifests[0]!.digest
  const manifest = await readFile(blobPath(dir, manifestDigest))
  const m = JSON.parse(manifest.toString('utf8')) as {
    config: { digest: string }
    layers: { digest: string; size: number }[]
  }
  const config = await readFile(blobPath(dir, m.config.digest))
  const layer = m.layers[0]!
  const rootfsBytes = Number((await readFile(join(dir, 'rootfs-bytes'), 'utf8').catch(() => '0')).trim())
  return {
    dir,
    suite,
    layer: { path: blobPath(dir, layer.digest), size: layer.size, digest: layer.digest },
    config,
    configDigest: m.config.digest,
    manifest,
    manifestDigest,
    rootfsBytes,
  }
}

/** Pushes the image's layer, config and manifest (under `tag`) to a registry. */
export async function importImage(client: BenchClient, repo: string, tag: string, image: DebianImage): Promise<void> {
  await client.pushMonolithic(repo, image.layer)
  await client.pushBytes(repo, image.config)
  const digest = await client.putManifest(repo, tag, image.manifest, OCI_MANIFEST)
  if (digest !== image.manifestDigest) throw new Error(`manifest digest ${digest}, expected ${image.manifestDigest}`)
}

function blobPath(dir: string, digest: string): string {
  return join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length))
}

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`
}

function tap(fn: (b: Buffer) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      fn(chunk)
      cb(null, chunk)
    },
  })
}
