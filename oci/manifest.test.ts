import { describe, expect, it } from 'vitest'
import { OciError } from './errors.ts'
import { MAX_MANIFEST_BYTES, parseManifest, requiredBlobs, type Descriptor } from './manifest.ts'

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json'

const d = (n: number, mediaType: string, extra: Record<string, unknown> = {}) => ({
  mediaType,
  digest: `sha256:${n.toString(16).padStart(64, '0')}`,
  size: n,
  ...extra,
})
const config = d(1, 'application/vnd.oci.image.config.v1+json')
const layer = d(2, 'application/vnd.oci.image.layer.v1.tar+gzip')

const bytes = (doc: unknown) => Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc))
const parse = (doc: unknown, contentType?: string | null) => parseManifest(bytes(doc), contentType)

function invalid(doc: unknown, contentType?: string | null): OciError {
  try {
    parse(doc, contentType)
  } catch (err) {
    expect(err).toBeInstanceOf(OciError)
    return err as OciError
  }
  throw new Error('expected parseManifest to throw')
}

describe('parseManifest: image manifests', () => {
  it('reads an OCI image manifest', () => {
    const m = parse({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }, OCI_MANIFEST)
    expect(m.mediaType).toBe(OCI_MANIFEST)
    expect(m.isIndex).toBe(false)
    expect(m.config).toEqual(config)
    expect(m.layers).toEqual([layer])
    expect(m.manifests).toEqual([])
    expect(m.subject).toBeUndefined()
    // without artifactType, the config's media type is what the referrers API reports
    expect(m.artifactType).toBe(config.mediaType)
  })

  it('takes the type from Content-Type when the body has no mediaType (the conformance suite pushes such manifests)', () => {
    expect(parse({ schemaVersion: 2, config, layers: [] }, OCI_MANIFEST).mediaType).toBe(OCI_MANIFEST)
    expect(parse({ schemaVersion: 2, config, layers: [] }, DOCKER_MANIFEST).mediaType).toBe(DOCKER_MANIFEST)
    // media type parameters and case do not matter
    expect(parse({ schemaVersion: 2, config }, `${OCI_MANIFEST.toUpperCase()}; charset=utf-8`).mediaType).toBe(OCI_MANIFEST)
  })

  it('falls back to the shape of the body when neither says', () => {
    expect(parse({ schemaVersion: 2, config }, undefined).mediaType).toBe(OCI_MANIFEST)
    expect(parse({ schemaVersion: 2, config }, 'application/json').mediaType).toBe(OCI_MANIFEST)
    expect(parse({ schemaVersion: 2, manifests: [] }, null).mediaType).toBe(OCI_INDEX)
  })

  it('uses the body’s mediaType when the Content-Type is not a manifest type', () => {
    expect(parse({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config }, 'application/octet-stream').mediaType).toBe(DOCKER_MANIFEST)
  })

  it('refuses a body whose mediaType contradicts the Content-Type', () => {
    const err = invalid({ schemaVersion: 2, mediaType: OCI_MANIFEST, config }, OCI_INDEX)
    expect(err.code).toBe('MANIFEST_INVALID')
  })

  it('treats missing layers as none, and accepts `layers: []`', () => {
    expect(parse({ schemaVersion: 2, config }, OCI_MANIFEST).layers).toEqual([])
    expect(parse({ schemaVersion: 2, config, layers: [] }, OCI_MANIFEST).layers).toEqual([])
  })

  it('tolerates unknown fields everywhere, and keeps only what it knows from descriptors', () => {
    const m = parse(
      {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        newUnspecifiedField: null,
        config: { ...config, newUnspecifiedField: null, data: 'e30=' },
        layers: [{ ...layer, urls: ['https://example.com/l'], 'x-extra': { a: 1 } }],
        'x-anything': [1, 2, 3],
      },
      OCI_MANIFEST,
    )
    expect(m.config).toEqual(config)
    expect(m.layers).toEqual([layer])
  })

  it('reads artifactType, subject and annotations', () => {
    const subject = d(9, OCI_MANIFEST)
    const m = parse(
      {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: 'application/vnd.example.sbom',
        config: d(3, 'application/vnd.oci.empty.v1+json'),
        layers: [d(4, 'application/vnd.example.sbom', { annotations: { 'org.opencontainers.image.title': 'sbom.json' } })],
        subject,
        annotations: { a: 'b' },
      },
      OCI_MANIFEST,
    )
    expect(m.artifactType).toBe('application/vnd.example.sbom')
    expect(m.subject).toEqual(subject)
    expect(m.annotations).toEqual({ a: 'b' })
    expect(m.layers[0]!.annotations).toEqual({ 'org.opencontainers.image.title': 'sbom.json' })
  })

  it('accepts a config of any media type (implementations must not parse unknown config types)', () => {
    const m = parse({ schemaVersion: 2, config: d(5, 'application/vnd.example.binary'), layers: [] }, OCI_MANIFEST)
    expect(m.artifactType).toBe('application/vnd.example.binary')
  })

  it('treats `subject: null` as no subject', () => {
    expect(parse({ schemaVersion: 2, config, subject: null }, OCI_MANIFEST).subject).toBeUndefined()
  })
})

describe('parseManifest: indexes', () => {
  it('reads an OCI index with platforms, artifactType and subject', () => {
    const child = d(7, OCI_MANIFEST, { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } })
    const m = parse(
      { schemaVersion: 2, mediaType: OCI_INDEX, artifactType: 'application/vnd.food.stand', manifests: [child], subject: d(8, OCI_MANIFEST) },
      OCI_INDEX,
    )
    expect(m.isIndex).toBe(true)
    expect(m.manifests).toEqual([child])
    expect(m.layers).toEqual([])
    expect(m.config).toBeUndefined()
    expect(m.artifactType).toBe('application/vnd.food.stand')
    expect(m.subject?.digest).toBe(d(8, OCI_MANIFEST).digest)
  })

  it('has no artifactType unless the index sets one', () => {
    expect(parse({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }, OCI_INDEX).artifactType).toBeUndefined()
  })

  it('reads a Docker manifest list, and nested indexes', () => {
    const list = parse({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [d(1, DOCKER_MANIFEST)] }, DOCKER_LIST)
    expect(list.isIndex).toBe(true)
    const nested = parse({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [d(1, OCI_INDEX), d(2, OCI_INDEX)] }, OCI_INDEX)
    expect(nested.manifests.map((c) => c.mediaType)).toEqual([OCI_INDEX, OCI_INDEX])
  })

  it('requires a manifests array', () => {
    expect(invalid({ schemaVersion: 2, mediaType: OCI_INDEX }, OCI_INDEX).code).toBe('MANIFEST_INVALID')
    expect(invalid({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: {} }, OCI_INDEX).code).toBe('MANIFEST_INVALID')
  })
})

describe('parseManifest: refusals (MANIFEST_INVALID, 400)', () => {
  const good = { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }
  it.each([
    ['not JSON', 'blablabla'],
    ['empty', ''],
    ['an array', '[]'],
    ['null', 'null'],
    ['a number', '2'],
    ['schemaVersion 1', { ...good, schemaVersion: 1 }],
    ['schemaVersion as a string', { ...good, schemaVersion: '2' }],
    ['no schemaVersion', { mediaType: OCI_MANIFEST, config }],
    ['an unsupported mediaType', { ...good, mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws' }],
    ['mediaType not a string', { ...good, mediaType: 5 }],
    ['no config', { schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [] }],
    ['config not an object', { ...good, config: [config] }],
    ['config without mediaType', { ...good, config: { ...config, mediaType: undefined } }],
    ['config with an empty mediaType', { ...good, config: { ...config, mediaType: '' } }],
    ['a bad digest', { ...good, config: { ...config, digest: 'sha256:123' } }],
    ['a digest of an unsupported algorithm', { ...good, config: { ...config, digest: `md5:${'a'.repeat(32)}` } }],
    ['a negative size', { ...good, layers: [{ ...layer, size: -1 }] }],
    ['a fractional size', { ...good, layers: [{ ...layer, size: 0.5 }] }],
    ['an unsafe integer size', { ...good, layers: [{ ...layer, size: 2 ** 53 }] }],
    ['a size as a string', { ...good, layers: [{ ...layer, size: '2' }] }],
    ['layers not an array', { ...good, layers: layer }],
    ['a null layer', { ...good, layers: [null] }],
    ['annotations with a non-string value', { ...good, annotations: { a: 1 } }],
    ['annotations as an array', { ...good, annotations: ['a'] }],
    ['descriptor annotations with a non-string value', { ...good, layers: [{ ...layer, annotations: { a: true } }] }],
    ['a subject that is not a descriptor', { ...good, subject: 'sha256:abc' }],
  ])('%s', (_what, doc) => {
    const err = invalid(doc, OCI_MANIFEST)
    expect(err.code).toBe('MANIFEST_INVALID')
    expect(err.status).toBe(400)
  })

  it('names where the problem is', () => {
    expect(invalid({ ...good, layers: [layer, { ...layer, size: -1 }] }, OCI_MANIFEST).message).toMatch(/layers\[1\]\.size/)
    expect(invalid({ ...good, config: { ...config, digest: 'nope' } }, OCI_MANIFEST).message).toMatch(/config\.digest/)
  })

  it('refuses bytes that are not JSON once decoded as UTF-8', () => {
    expect(() => parseManifest(Buffer.from([0x7b, 0xff, 0x7d]), OCI_MANIFEST)).toThrow(OciError)
  })

  it('parses a view into a larger buffer correctly (only the view’s bytes count)', () => {
    const doc = bytes({ schemaVersion: 2, mediaType: OCI_MANIFEST, config })
    const big = Buffer.concat([Buffer.from('garbage'), doc, Buffer.from('garbage')])
    const view = big.subarray(7, 7 + doc.length)
    expect(parseManifest(view, OCI_MANIFEST).config).toEqual(config)
  })
})

describe('requiredBlobs', () => {
  it('is the config and every distributable layer, in order', () => {
    const l2 = d(3, 'application/vnd.oci.image.layer.v1.tar')
    const m = parse({ schemaVersion: 2, config, layers: [layer, l2] }, OCI_MANIFEST)
    expect(requiredBlobs(m).map((b: Descriptor) => b.digest)).toEqual([config.digest, layer.digest, l2.digest])
  })

  it('skips nondistributable OCI layers and Docker foreign layers, which clients fetch elsewhere', () => {
    const m = parse(
      {
        schemaVersion: 2,
        config,
        layers: [
          d(3, 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', { urls: ['https://example.com/a'] }),
          d(4, 'application/vnd.oci.image.layer.nondistributable.v1.tar'),
          d(5, 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'),
          layer,
        ],
      },
      OCI_MANIFEST,
    )
    expect(requiredBlobs(m).map((b) => b.digest)).toEqual([config.digest, layer.digest])
  })

  it('is empty for an index (its children are manifests, not blobs)', () => {
    expect(requiredBlobs(parse({ schemaVersion: 2, manifests: [d(1, OCI_MANIFEST)] }, OCI_INDEX))).toEqual([])
  })
})

describe('MAX_MANIFEST_BYTES', () => {
  it('is at least the 4 MB the spec asks registries to accept', () => {
    expect(MAX_MANIFEST_BYTES).toBeGreaterThanOrEqual(4_000_000)
  })
})
