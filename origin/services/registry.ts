import type { Readable } from 'node:stream'
import type { Logger } from 'pino'
import { OciError } from '../../oci/errors.ts'
import { digestOf, parseDigest } from '../../oci/digest.ts'
import { MEDIA_TYPES } from '../../oci/media-types.ts'
import { MAX_MANIFEST_BYTES, parseManifest, requiredBlobs, type Descriptor } from '../../oci/manifest.ts'
import { isValidTag, parseReference } from '../../oci/reference.ts'
import type { BlobStore } from '../storage/blob-store.ts'
import type { ManifestRow, Metadata, NamePage } from '../storage/metadata.ts'
import type { Actor, Events } from './events.ts'
import type { Permissions } from './permissions.ts'

export interface RegistryDeps {
  meta: Metadata
  blobs: BlobStore
  /** Where pushes, pulls, deletes and repositories created by a push are recorded. */
  events: Events
  /** The `createRepositoryOnPush` setting. */
  permissions: Pick<Permissions, 'createOnPush'>
  now: () => number
  log: Logger
}

/** Who does a registry operation: the actor its events name (and whose name is recorded as pusher), from where. */
export interface RegistryCaller {
  actor: Actor
  address: string | null
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

/**
 * The registry's rules for reading blobs and for manifests, tags, referrers and the catalog, and for what a push
 * creates. Whether the caller may do an operation is decided before (the access controller); what it did is recorded
 * here, as an event.
 */
export class RegistryService {
  readonly #d: RegistryDeps

  constructor(deps: RegistryDeps) {
    this.#d = deps
  }

  /**
   * Makes sure a push has a repository to go to: one that does not exist yet is created, private, when the settings
   * create repositories on push (DENIED otherwise) and the name has a namespace (NAME_INVALID otherwise). Called by
   * every operation that writes into a repository (upload start, mount, upload completion, manifest put).
   */
  ensureRepository(name: string, caller: RegistryCaller): void {
    if (this.#d.meta.repository(name)) return
    if (!this.#d.permissions.createOnPush()) {
      throw new OciError(
        'DENIED',
        `repository ${name} does not exist and this registry does not create repositories on push; create it first (POST /api/v0/repositories)`,
      )
    }
    if (!name.includes('/')) {
      throw new OciError('NAME_INVALID', `repository names are <namespace>/<name>; "${name}" has no namespace`)
    }
    try {
      this.#d.meta.createRepository({
        name,
        visibility: 'private',
        description: '',
        longDescription: '',
        createdAt: this.#d.now(),
        createdBy: caller.actor.name,
      })
    } catch (err) {
      // another push may have created it in the meantime; anything else is a real failure
      if (this.#d.meta.repository(name)) return
      throw err
    }
    this.#d.events.record({
      actor: caller.actor,
      action: 'repository.create',
      targetType: 'repository',
      target: name,
      address: caller.address,
      detail: { visibility: 'private', onPush: true },
    })
  }

  /** A blob the repository links, with its size; BLOB_UNKNOWN otherwise (even when another repository has it). */
  blob(repository: string, digest: string): BlobInfo {
    const parsed = parseDigest(digest)
    const size = this.#d.meta.linkedBlobSize(repository, parsed.digest)
    if (size === undefined)
      throw new OciError('BLOB_UNKNOWN', `blob ${parsed.digest} is unknown to repository ${repository}`)
    return { digest: parsed.digest, size }
  }

  /** Opens a blob's bytes; a link whose file is gone is reported and answered as unknown. */
  async openBlob(info: BlobInfo, range?: { start: number; end: number }): Promise<Readable> {
    const onDisk = await this.#d.blobs.stat(info.digest)
    if (onDisk !== info.size) {
      this.#d.log.error({ digest: info.digest, expected: info.size, onDisk }, 'blob file missing or wrong size')
      throw new OciError('BLOB_UNKNOWN', `blob ${info.digest} is not available`)
    }
    return this.#d.blobs.open(info.digest, range)
  }

  /** Where a client may fetch the blob directly (a presigned URL of the blob store), when the store offers one. */
  blobRedirect(info: BlobInfo): Promise<string | undefined> {
    return this.#d.blobs.redirectUrl?.(info.digest) ?? Promise.resolve(undefined)
  }

  /**
   * Cross-repository mount: links `digest` into `repository` when `from` links it. Returns undefined when it
   * cannot (the caller then opens an upload session, as the spec says).
   */
  mount(repository: string, digest: string, from: string, caller: RegistryCaller): BlobInfo | undefined {
    const parsed = parseDigest(digest)
    const size = this.#d.meta.linkedBlobSize(from, parsed.digest)
    if (size === undefined) return undefined
    this.ensureRepository(repository, caller)
    this.#d.meta.linkBlob(repository, parsed.digest, size, caller.actor.name, this.#d.now())
    return { digest: parsed.digest, size }
  }

  deleteBlob(repository: string, digest: string, caller: RegistryCaller): void {
    const parsed = parseDigest(digest)
    if (!this.#d.meta.unlinkBlob(repository, parsed.digest)) {
      throw new OciError('BLOB_UNKNOWN', `blob ${parsed.digest} is unknown to repository ${repository}`)
    }
    this.#d.events.record({
      actor: caller.actor,
      action: 'delete',
      targetType: 'blob',
      target: `${repository}@${digest}`,
      address: caller.address,
    })
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
   * A manifest GET: resolves it as manifest() does and records the pull (a conditional GET answered 304 is a pull
   * too: the client resolved the reference through us). A HEAD is no pull and calls manifest().
   */
  pullManifest(repository: string, reference: string, caller: RegistryCaller): ManifestRow {
    const m = this.manifest(repository, reference)
    this.#d.meta.markPulled(repository, m.digest, this.#d.now())
    this.#d.events.record({
      actor: caller.actor,
      action: 'pull',
      targetType: 'manifest',
      target: referenceTarget(repository, reference),
      address: caller.address,
      detail: { digest: m.digest, mediaType: m.mediaType },
    })
    return m
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
    caller: RegistryCaller,
  ): PutManifestResult {
    this.ensureRepository(repository, caller)
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
        throw new OciError(
          'MANIFEST_BLOB_UNKNOWN',
          `blob ${b.digest} is not in repository ${repository}; push it first`,
          {
            detail: { digest: b.digest },
          },
        )
      }
    }
    const children = m.manifests.map((c) => c.digest)
    const missing = this.#d.meta.missingManifests(repository, children)
    if (missing.length > 0) {
      throw new OciError(
        'MANIFEST_BLOB_UNKNOWN',
        `manifest ${missing[0]} is not in repository ${repository}; push it first`,
        {
          detail: { digest: missing[0] },
        },
      )
    }
    const tags = [...(ref.kind === 'tag' ? [ref.tag] : []), ...extraTags]
    // tags that pointed at another manifest until now: each move is an event of its own
    const moved = tags.flatMap((t) => {
      const from = this.#d.meta.tag(repository, t)
      return from !== undefined && from !== digest ? [{ tag: t, from }] : []
    })
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
      pushedBy: caller.actor.name,
      now: this.#d.now(),
    })
    this.#d.events.record({
      actor: caller.actor,
      action: 'push',
      targetType: 'manifest',
      target: referenceTarget(repository, reference),
      address: caller.address,
      detail: { digest, mediaType: contentType ?? null, tags },
    })
    for (const { tag, from } of moved) {
      this.#d.events.record({
        actor: caller.actor,
        action: 'tag.move',
        targetType: 'tag',
        target: `${repository}:${tag}`,
        address: caller.address,
        detail: { from, to: digest },
      })
    }
    return { digest, subject: m.subject?.digest, tags }
  }

  /** Deletes a tag, or a manifest by digest together with every tag pointing at it. */
  deleteManifest(repository: string, reference: string, caller: RegistryCaller): void {
    const ref = parseReference(reference, 'unknown')
    const deleted =
      ref.kind === 'tag'
        ? this.#d.meta.deleteTag(repository, ref.tag)
        : this.#d.meta.deleteManifest(repository, ref.digest.digest)
    if (!deleted) throw new OciError('MANIFEST_UNKNOWN', `manifest ${reference} is unknown to repository ${repository}`)
    this.#d.events.record({
      actor: caller.actor,
      action: 'delete',
      targetType: 'manifest',
      target: referenceTarget(repository, reference),
      address: caller.address,
    })
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

/** `repo:tag` or `repo@digest`, as image references write them (the target of manifest events). */
function referenceTarget(repository: string, reference: string): string {
  return isValidTag(reference) ? `${repository}:${reference}` : `${repository}@${reference}`
}
