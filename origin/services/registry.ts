import type { ReadStream } from 'node:fs'
import type { Logger } from 'pino'
import { OciError } from '../../oci/errors.ts'
import { digestOf, parseDigest } from '../../oci/digest.ts'
import { MEDIA_TYPES } from '../../oci/media-types.ts'
import { MAX_MANIFEST_BYTES, parseManifest, requiredBlobs, type Descriptor } from '../../oci/manifest.ts'
import { isValidTag, parseReference } from '../../oci/reference.ts'
import type { BlobStore } from '../storage/blob-store.ts'
import type { ManifestRow, Metadata, NamePage } from '../storage/metadata.ts'

export interface RegistryDeps {
  meta: Metadata
  blobs: BlobStore
  now: () => number
  log: Logger
}

export interface BlobInfo {
  digest: string
  size: number
}

export interface PutManifestResult {
  digest: string
  subject?: string
  tags: string[]
}

export interface ReferrersResult {
  manifests: Descriptor[]
  filtered: boolean
}

/** The registry's rules for reading blobs and for manifests, tags, referrers and the catalog. */
export class RegistryService {
  readonly #d: RegistryDeps

  constructor(deps: RegistryDeps) {
    this.#d = deps
  }

  /** A blob the repository links, with its size; BLOB_UNKNOWN otherwise (even when another repository has it). */
  blob(repository: string, digest: string): BlobInfo {
    const parsed = parseDigest(digest)
    const size = this.#d.meta.linkedBlobSize(repository, parsed.digest)
    if (size === undefined) throw new OciError('BLOB_UNKNOWN', `blob ${parsed.digest} is unknown to repository ${repository}`)
    return { digest: parsed.digest, size }
  }

  /** Opens a blob's bytes; a link whose file is gone is reported and answered as unknown. */
  async openBlob(info: BlobInfo, range?: { start: number; end: number }): Promise<ReadStream> {
    const onDisk = await this.#d.blobs.stat(info.digest)
    if (onDisk !== info.size) {
      this.#d.log.error({ digest: info.digest, expected: info.size, onDisk }, 'blob file missing or wrong size')
      throw new OciError('BLOB_UNKNOWN', `blob ${info.digest} is not available`)
    }
    return this.#d.blobs.open(info.digest, range)
  }

  /**
   * Cross-repository mount: links `digest` into `repository` when `from` links it. Returns undefined when it
   * cannot (the caller then opens an upload session, as the spec says).
   */
  mount(repository: string, digest: string, from: string, actor: string): BlobInfo | undefined {
    const parsed = parseDigest(digest)
    const size = this.#d.meta.linkedBlobSize(from, parsed.digest)
    if (size === undefined) return undefined
    this.#d.meta.linkBlob(repository, parsed.digest, size, actor, this.#d.now())
    return { digest: parsed.digest, size }
  }

  deleteBlob(repository: string, digest: string): void {
    const parsed = parseDigest(digest)
    if (!this.#d.meta.unlinkBlob(repository, parsed.digest)) {
      throw new OciError('BLOB_UNKNOWN', `blob ${parsed.digest} is unknown to repository ${repository}`)
    }
  }

  /** Resolves a tag or digest to the stored manifest; MANIFEST_UNKNOWN when absent or malformed. */
  manifest(repository: string, reference: string): ManifestRow {
    const ref = parseReference(reference, 'unknown')
    const digest = ref.kind === 'tag' ? this.#d.meta.tag(repository, ref.tag) : ref.digest.digest
    const row = digest === undefined ? undefined : this.#d.meta.manifest(repository, digest)
    if (!row) throw new OciError('MANIFEST_UNKNOWN', `manifest ${reference} is unknown to repository ${repository}`)
    return row
  }

  /**
   * Stores a manifest as pushed. Every blob and child manifest it references must already be in the
   * repository; a `subject` need not exist. `extraTags` are the `?tag=` parameters of a push by digest.
   */
  putManifest(
    repository: string,
    reference: string,
    body: Buffer,
    contentType: string | undefined,
    extraTags: string[],
    actor: string,
  ): PutManifestResult {
    if (body.byteLength > MAX_MANIFEST_BYTES) {
      throw new OciError('SIZE_INVALID', `manifest exceeds ${MAX_MANIFEST_BYTES} bytes`, { status: 413 })
    }
    const ref = parseReference(reference, 'invalid')
    const algorithm = ref.kind === 'digest' ? ref.digest.algorithm : 'sha256'
    const digest = digestOf(body, algorithm)
    if (ref.kind === 'digest' && ref.digest.digest !== digest) {
      throw new OciError('DIGEST_INVALID', `manifest body has digest ${digest}, not ${ref.digest.digest}`, {
        detail: { expected: ref.digest.digest, found: digest },
      })
    }
    for (const t of extraTags) {
      if (!isValidTag(t)) throw new OciError('MANIFEST_INVALID', `invalid tag "${t.slice(0, 100)}"`)
    }
    const m = parseManifest(body, contentType)
    const blobs = requiredBlobs(m)
    for (const b of blobs) {
      if (this.#d.meta.linkedBlobSize(repository, b.digest) === undefined) {
        throw new OciError('MANIFEST_BLOB_UNKNOWN', `blob ${b.digest} is not in repository ${repository}; push it first`, {
          detail: { digest: b.digest },
        })
      }
    }
    const children = m.manifests.map((c) => c.digest)
    const missing = this.#d.meta.missingManifests(repository, children)
    if (missing.length > 0) {
      throw new OciError('MANIFEST_BLOB_UNKNOWN', `manifest ${missing[0]} is not in repository ${repository}; push it first`, {
        detail: { digest: missing[0] },
      })
    }
    const tags = [...(ref.kind === 'tag' ? [ref.tag] : []), ...extraTags]
    this.#d.meta.putManifest({
      repository,
      digest,
      mediaType: m.mediaType,
      body,
      artifactType: m.artifactType,
      subjectDigest: m.subject?.digest,
      annotations: m.annotations,
      blobs: blobs.map((b) => b.digest),
      children,
      tags,
      pushedBy: actor,
      now: this.#d.now(),
    })
    return { digest, subject: m.subject?.digest, tags }
  }

  /** Deletes a tag, or a manifest by digest together with every tag pointing at it. */
  deleteManifest(repository: string, reference: string): void {
    const ref = parseReference(reference, 'unknown')
    const deleted =
      ref.kind === 'tag' ? this.#d.meta.deleteTag(repository, ref.tag) : this.#d.meta.deleteManifest(repository, ref.digest.digest)
    if (!deleted) throw new OciError('MANIFEST_UNKNOWN', `manifest ${reference} is unknown to repository ${repository}`)
  }

  tags(repository: string, last: string, n: number): NamePage {
    if (!this.#d.meta.repositoryExists(repository)) {
      throw new OciError('NAME_UNKNOWN', `repository ${repository} is not known to the registry`)
    }
    return this.#d.meta.tags(repository, last, n)
  }

  catalog(last: string, n: number): NamePage {
    return this.#d.meta.repositories(last, n)
  }

  /** Manifests whose `subject` is `digest`, as descriptors; optionally only those of one artifact type. */
  referrers(repository: string, digest: string, artifactType: string | undefined): ReferrersResult {
    const parsed = parseDigest(digest)
    const rows = this.#d.meta.referrers(repository, parsed.digest)
    const manifests = rows
      .filter((r) => artifactType === undefined || r.artifactType === artifactType)
      .map((r) => {
        const d: Descriptor = { mediaType: r.mediaType, digest: r.digest, size: r.size }
        if (r.artifactType) d.artifactType = r.artifactType
        if (r.annotations) d.annotations = r.annotations
        return d
      })
    return { manifests, filtered: artifactType !== undefined }
  }
}

export const REFERRERS_MEDIA_TYPE = MEDIA_TYPES.ociIndex
