import type { Statement } from 'better-sqlite3'
import type { Db } from './db.ts'
import { escapeLike } from './sql.ts'

export interface ManifestRow {
  digest: string
  mediaType: string
  size: number
  body: Buffer
  artifactType: string | null
  subjectDigest: string | null
  annotations: Record<string, string> | null
  createdAt: number
  pushedBy: string
  /** When it was last pulled (a GET by tag or digest); null when never. */
  pulledAt?: number | null
}

export interface NewManifest {
  repository: string
  digest: string
  mediaType: string
  body: Buffer
  artifactType?: string
  subjectDigest?: string
  annotations?: Record<string, string>
  blobs: string[]
  children: string[]
  tags: string[]
  pushedBy: string
  now: number
}

export interface RepositoryRow {
  name: string
  visibility: 'private' | 'public'
  description: string
  /** Markdown, shown on the repository's page. */
  longDescription: string
  createdAt: number
  createdBy: string
}

export interface UploadRow {
  id: string
  repository: string
  offset: number
  createdAt: number
  updatedAt: number
}

/** A repository with what a listing shows of it. */
export interface RepositorySummaryRow extends RepositoryRow {
  tagCount: number
  /** Bytes of the blobs it links (each counted once). */
  size: number
  /** The latest tag push: when and by whom (null for a repository without tags). */
  pushedAt: number | null
  pushedBy: string | null
}

export interface RepositoryFilter {
  /** Part of the name, matched anywhere. */
  search?: string
  namespace?: string
  visibility?: 'private' | 'public'
  /** Only repositories in this user's namespace or created by them. */
  mine?: string
  sort: 'name' | 'pushed'
}

/** A tag with the manifest it points at. */
export interface TagDetailRow {
  name: string
  digest: string
  updatedAt: number
  pushedBy: string
  mediaType: string
  size: number
  body: Buffer
  pulledAt: number | null
}

/** A page of names in lexical order, and whether more follow. */
export interface NamePage {
  names: string[]
  more: boolean
}

type RawManifest = Omit<ManifestRow, 'annotations'> & { annotations: string | null }

/** Registry metadata in SQLite: repositories, blob links, manifests, tags and upload sessions. */
export class Metadata {
  readonly #db: Db
  readonly #s: Record<string, Statement>

  constructor(db: Db) {
    this.#db = db
    const p = (sql: string) => db.prepare(sql)
    this.#s = {
      repoId: p('SELECT id FROM repositories WHERE name = ?').pluck(),
      repoInsert: p(
        'INSERT INTO repositories (name, created_at, created_by) VALUES (?, ?, ?) ON CONFLICT(name) DO NOTHING',
      ),
      repoPage: p('SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?').pluck(),
      repoGet:
        p(`SELECT name, visibility, description, long_description AS longDescription, created_at AS createdAt, created_by AS createdBy
                  FROM repositories WHERE name = ?`),
      repoRows:
        p(`SELECT name, visibility, description, long_description AS longDescription, created_at AS createdAt, created_by AS createdBy
                   FROM repositories WHERE name > ? AND (? IS NULL OR name LIKE ? ESCAPE '\\') ORDER BY name LIMIT ?`),
      repoCreate: p(
        `INSERT INTO repositories (name, created_at, created_by, visibility, description, long_description)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      repoUpdate: p('UPDATE repositories SET visibility = ?, description = ?, long_description = ? WHERE name = ?'),
      repoDelete: p('DELETE FROM repositories WHERE name = ?'),
      repoTags: p('SELECT count(*) FROM tags t JOIN repositories r ON r.id = t.repository_id WHERE r.name = ?').pluck(),
      blobInsert: p('INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?) ON CONFLICT(digest) DO NOTHING'),
      blobSize: p('SELECT size FROM blobs WHERE digest = ?').pluck(),
      linkInsert: p(
        'INSERT INTO repository_blobs (repository_id, digest, created_at, pushed_by) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      linkedSize: p(
        `SELECT b.size FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
         JOIN blobs b ON b.digest = rb.digest WHERE r.name = ? AND rb.digest = ?`,
      ).pluck(),
      linkDelete: p(
        'DELETE FROM repository_blobs WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND digest = ?',
      ),
      manifestGet: p(
        `SELECT m.digest, m.media_type AS mediaType, m.size, m.body, m.artifact_type AS artifactType,
                m.subject_digest AS subjectDigest, m.annotations, m.created_at AS createdAt, m.pushed_by AS pushedBy,
                m.pulled_at AS pulledAt
         FROM manifests m JOIN repositories r ON r.id = m.repository_id WHERE r.name = ? AND m.digest = ?`,
      ),
      manifestExists: p('SELECT 1 FROM manifests WHERE repository_id = ? AND digest = ?').pluck(),
      manifestInsert: p(
        `INSERT INTO manifests (repository_id, digest, media_type, size, body, artifact_type, subject_digest, annotations,
                                created_at, pushed_by)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      ),
      refInsert: p(
        `INSERT INTO manifest_references (repository_id, manifest_digest, child_digest, kind) VALUES (?, ?, ?, ?)
         ON CONFLICT DO NOTHING`,
      ),
      manifestDelete: p(
        'DELETE FROM manifests WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND digest = ?',
      ),
      referrers: p(
        `SELECT m.digest, m.media_type AS mediaType, m.size, m.artifact_type AS artifactType, m.annotations
         FROM manifests m JOIN repositories r ON r.id = m.repository_id
         WHERE r.name = ? AND m.subject_digest = ? ORDER BY m.created_at, m.digest`,
      ),
      tagGet: p(
        'SELECT t.digest FROM tags t JOIN repositories r ON r.id = t.repository_id WHERE r.name = ? AND t.name = ?',
      ).pluck(),
      tagUpsert: p(
        `INSERT INTO tags (repository_id, name, digest, updated_at, pushed_by) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(repository_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at,
           pushed_by = excluded.pushed_by`,
      ),
      tagDelete: p('DELETE FROM tags WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND name = ?'),
      tagPage: p(
        `SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repository_id
         WHERE r.name = ? AND t.name > ? ORDER BY t.name LIMIT ?`,
      ).pluck(),
      tagDetails: p(
        `SELECT t.name, t.digest, t.updated_at AS updatedAt, t.pushed_by AS pushedBy, m.media_type AS mediaType,
                m.size, m.body, m.pulled_at AS pulledAt
         FROM tags t JOIN repositories r ON r.id = t.repository_id
         JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
         WHERE r.name = ? ORDER BY t.updated_at DESC, t.name LIMIT ? OFFSET ?`,
      ),
      tagsOf: p(
        `SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repository_id
         WHERE r.name = ? AND t.digest = ? ORDER BY t.name`,
      ).pluck(),
      manifestPulled: p(
        `UPDATE manifests SET pulled_at = ? WHERE repository_id = (SELECT id FROM repositories WHERE name = ?)
         AND digest = ?`,
      ),
      uploadInsert: p('INSERT INTO uploads (id, repository, offset, created_at, updated_at) VALUES (?, ?, 0, ?, ?)'),
      uploadGet: p(
        'SELECT id, repository, offset, created_at AS createdAt, updated_at AS updatedAt FROM uploads WHERE id = ?',
      ),
      uploadAdvance: p('UPDATE uploads SET offset = ?, updated_at = ? WHERE id = ?'),
      uploadDelete: p('DELETE FROM uploads WHERE id = ?'),
      uploadAll: p('SELECT id, repository, offset, created_at AS createdAt, updated_at AS updatedAt FROM uploads'),
    }
  }

  repositoryExists(name: string): boolean {
    return this.#s.repoId!.get(name) !== undefined
  }

  repository(name: string): RepositoryRow | undefined {
    return this.#s.repoGet!.get(name) as RepositoryRow | undefined
  }

  /** Repositories after `last` in name order, optionally only those in one namespace; `limit + 1` rows at most. */
  repositoryRows(last: string, limit: number, namespace?: string): RepositoryRow[] {
    const like = namespace === undefined ? null : `${escapeLike(namespace)}/%`
    return this.#s.repoRows!.all(last, like, like, limit) as RepositoryRow[]
  }

  createRepository(r: RepositoryRow): void {
    this.#s.repoCreate!.run(r.name, r.createdAt, r.createdBy, r.visibility, r.description, r.longDescription)
  }

  updateRepository(name: string, visibility: 'private' | 'public', description: string, longDescription: string): void {
    this.#s.repoUpdate!.run(visibility, description, longDescription, name)
  }

  /** Deletes a repository with its manifests, tags and blob links (the blob files stay for garbage collection). */
  deleteRepository(name: string): boolean {
    return this.#s.repoDelete!.run(name).changes > 0
  }

  tagCount(name: string): number {
    return this.#s.repoTags!.get(name) as number
  }

  /** Repository names after `last`, in lexical order. */
  repositories(last: string, limit: number): NamePage {
    const rows = this.#s.repoPage!.all(last, limit + 1) as string[]
    return { names: rows.slice(0, limit), more: rows.length > limit }
  }

  /** Size of a blob linked into the repository, or undefined when the repository does not link it. */
  linkedBlobSize(repository: string, digest: string): number | undefined {
    return this.#s.linkedSize!.get(repository, digest) as number | undefined
  }

  /** Size of a blob known to the registry in any repository. */
  blobSize(digest: string): number | undefined {
    return this.#s.blobSize!.get(digest) as number | undefined
  }

  /** Records a verified blob and links it into the repository, creating the repository if needed. */
  linkBlob(repository: string, digest: string, size: number, pushedBy: string, now: number): void {
    this.#db.transaction(() => {
      const repoId = this.#ensureRepo(repository, pushedBy, now)
      this.#s.blobInsert!.run(digest, size, now)
      this.#s.linkInsert!.run(repoId, digest, now, pushedBy)
    })()
  }

  /** Removes the repository's link to a blob; false when there was none. */
  unlinkBlob(repository: string, digest: string): boolean {
    return this.#s.linkDelete!.run(repository, digest).changes > 0
  }

  manifest(repository: string, digest: string): ManifestRow | undefined {
    const row = this.#s.manifestGet!.get(repository, digest) as RawManifest | undefined
    if (!row) return undefined
    return { ...row, annotations: row.annotations ? (JSON.parse(row.annotations) as Record<string, string>) : null }
  }

  /** Digests among `digests` that the repository does not hold as manifests. */
  missingManifests(repository: string, digests: string[]): string[] {
    const repoId = this.#s.repoId!.get(repository) as number | undefined
    if (repoId === undefined) return digests
    return digests.filter((d) => this.#s.manifestExists!.get(repoId, d) === undefined)
  }

  /** Stores a manifest, what it references, and its tags, in one transaction. */
  putManifest(m: NewManifest): void {
    this.#db.transaction(() => {
      const repoId = this.#ensureRepo(m.repository, m.pushedBy, m.now)
      const inserted = this.#s.manifestInsert!.run(
        repoId,
        m.digest,
        m.mediaType,
        m.body.byteLength,
        m.body,
        m.artifactType ?? null,
        m.subjectDigest ?? null,
        m.annotations ? JSON.stringify(m.annotations) : null,
        m.now,
        m.pushedBy,
      )
      if (inserted.changes > 0) {
        for (const b of m.blobs) this.#s.refInsert!.run(repoId, m.digest, b, 'blob')
        for (const c of m.children) this.#s.refInsert!.run(repoId, m.digest, c, 'manifest')
      }
      for (const tag of m.tags) this.#s.tagUpsert!.run(repoId, tag, m.digest, m.now, m.pushedBy)
    })()
  }

  /** Deletes a manifest and every tag that points at it; false when the repository has no such manifest. */
  deleteManifest(repository: string, digest: string): boolean {
    return this.#s.manifestDelete!.run(repository, digest).changes > 0
  }

  referrers(
    repository: string,
    subject: string,
  ): Omit<ManifestRow, 'body' | 'subjectDigest' | 'createdAt' | 'pushedBy'>[] {
    const rows = this.#s.referrers!.all(repository, subject) as Omit<
      RawManifest,
      'body' | 'subjectDigest' | 'createdAt' | 'pushedBy'
    >[]
    return rows.map((r) => ({
      ...r,
      annotations: r.annotations ? (JSON.parse(r.annotations) as Record<string, string>) : null,
    }))
  }

  /**
   * Repositories matching the filter with their tag count, size and latest push, sorted by name or latest push
   * first. All matches are returned: the caller filters them by visibility before it pages.
   */
  repositorySummaries(f: RepositoryFilter): RepositorySummaryRow[] {
    const where: string[] = []
    const args: unknown[] = []
    if (f.search) {
      where.push(`r.name LIKE ? ESCAPE '\\'`)
      args.push(`%${escapeLike(f.search)}%`)
    }
    if (f.namespace) {
      where.push(`r.name LIKE ? ESCAPE '\\'`)
      args.push(`${escapeLike(f.namespace)}/%`)
    }
    if (f.visibility) {
      where.push('r.visibility = ?')
      args.push(f.visibility)
    }
    if (f.mine) {
      where.push(`(r.name LIKE ? ESCAPE '\\' OR r.created_by = ?)`)
      args.push(`${escapeLike(f.mine)}/%`, f.mine)
    }
    const order = f.sort === 'pushed' ? 'pushedAt IS NULL, pushedAt DESC, r.name' : 'r.name'
    const sql = `SELECT r.name, r.visibility, r.description, r.long_description AS longDescription, r.created_at AS createdAt, r.created_by AS createdBy,
        (SELECT count(*) FROM tags t WHERE t.repository_id = r.id) AS tagCount,
        (SELECT coalesce(sum(b.size), 0) FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
           WHERE rb.repository_id = r.id) AS size,
        (SELECT max(t.updated_at) FROM tags t WHERE t.repository_id = r.id) AS pushedAt,
        (SELECT t.pushed_by FROM tags t WHERE t.repository_id = r.id ORDER BY t.updated_at DESC LIMIT 1) AS pushedBy
      FROM repositories r ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${order}`
    return this.#db.prepare(sql).all(...args) as RepositorySummaryRow[]
  }

  /** A page of the repository's tags, latest push first, each with its manifest. */
  tagDetails(repository: string, offset: number, limit: number): TagDetailRow[] {
    return this.#s.tagDetails!.all(repository, limit, offset) as TagDetailRow[]
  }

  /** The tags pointing at a manifest. */
  tagsOf(repository: string, digest: string): string[] {
    return this.#s.tagsOf!.all(repository, digest) as string[]
  }

  /** Records that a manifest was pulled now. */
  markPulled(repository: string, digest: string, now: number): void {
    this.#s.manifestPulled!.run(now, repository, digest)
  }

  tag(repository: string, tag: string): string | undefined {
    return this.#s.tagGet!.get(repository, tag) as string | undefined
  }

  deleteTag(repository: string, tag: string): boolean {
    return this.#s.tagDelete!.run(repository, tag).changes > 0
  }

  tags(repository: string, last: string, limit: number): NamePage {
    const rows = this.#s.tagPage!.all(repository, last, limit + 1) as string[]
    return { names: rows.slice(0, limit), more: rows.length > limit }
  }

  createUpload(id: string, repository: string, now: number): void {
    this.#s.uploadInsert!.run(id, repository, now, now)
  }

  upload(id: string): UploadRow | undefined {
    return this.#s.uploadGet!.get(id) as UploadRow | undefined
  }

  allUploads(): UploadRow[] {
    return this.#s.uploadAll!.all() as UploadRow[]
  }

  advanceUpload(id: string, offset: number, now: number): void {
    this.#s.uploadAdvance!.run(offset, now, id)
  }

  deleteUpload(id: string): void {
    this.#s.uploadDelete!.run(id)
  }

  /** Links a verified blob into the repository and closes the upload session, atomically. */
  completeUpload(id: string, repository: string, digest: string, size: number, pushedBy: string, now: number): void {
    this.#db.transaction(() => {
      this.linkBlob(repository, digest, size, pushedBy, now)
      this.#s.uploadDelete!.run(id)
    })()
  }

  #ensureRepo(name: string, by: string, now: number): number {
    this.#s.repoInsert!.run(name, now, by)
    return this.#s.repoId!.get(name) as number
  }
}
