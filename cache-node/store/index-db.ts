import Database, { type Statement } from 'better-sqlite3'

/** A cached blob or manifest: its file is `blobs/<algorithm>/<xx>/<hex>` under the data folder. */
export interface Entry {
  digest: string
  size: number
  /** A manifest's media type; null for blobs. */
  mediaType: string | null
  storedAt: number
  lastAccess: number
  hits: number
  /** When the file last hashed to its digest (its fill, a full read, or the scrub); null: re-hash before serving. */
  verifiedAt: number | null
}

/** What a tag pointed at when it was last checked with its upstream. */
export interface TagRow {
  digest: string
  mediaType: string
  checkedAt: number
}

/**
 * Schema migrations, applied in order; `PRAGMA user_version` records how many have run. Append only.
 *
 * - blobs: one row per cached file (manifests too, by digest); the LRU order is `last_access`. `verified_at` is when
 *   the file last hashed to its digest; NULL (every entry after an unclean stop, and entries from before the
 *   column) means it is re-hashed before it is served. The scrub takes the oldest first.
 * - links: which upstream repository is known to hold which digest. A digest is served through a repository only
 *   with a row here (or after the upstream confirmed it), so a blob cached through one repository never leaks
 *   through another one that does not hold it, exactly as the origin links blobs to repositories.
 * - tags: the digest a tag resolved to, and when that was last checked with the upstream.
 * - meta: what the cache learned about its origin (token realm, service, JWKS), so it starts without the origin.
 * - sources: which upstreams served a cached digest's bytes (a verified fill or manifest GET from them). A cached
 *   digest is served through a foreign upstream only when that upstream is one of its sources: a HEAD answer or a
 *   manifest naming the digest is no proof that a registry holds the bytes (README, cache node, Access).
 * - metrics_outbox: usage batches for the control plane, kept until it acknowledged them (docs/network-protocol.md);
 *   `seq` orders them, `batch` is `<siteId>-<seq>`; the last sequence number given out is the meta key
 *   `metrics_seq`, so a batch id is never reused, even once the outbox is empty.
 */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE blobs (
    digest      TEXT PRIMARY KEY,
    size        INTEGER NOT NULL,
    media_type  TEXT,
    stored_at   INTEGER NOT NULL,
    last_access INTEGER NOT NULL,
    hits        INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID;
  CREATE INDEX blobs_lru ON blobs(last_access);
  CREATE TABLE links (
    upstream    TEXT NOT NULL,
    repository  TEXT NOT NULL,
    digest      TEXT NOT NULL,
    linked_at   INTEGER NOT NULL,
    PRIMARY KEY (upstream, repository, digest)
  ) WITHOUT ROWID;
  CREATE INDEX links_digest ON links(digest);
  CREATE TABLE tags (
    upstream    TEXT NOT NULL,
    repository  TEXT NOT NULL,
    tag         TEXT NOT NULL,
    digest      TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    checked_at  INTEGER NOT NULL,
    PRIMARY KEY (upstream, repository, tag)
  ) WITHOUT ROWID;
  CREATE TABLE meta (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
  `
  CREATE TABLE metrics_outbox (
    seq         INTEGER PRIMARY KEY,
    site_id     TEXT NOT NULL,
    batch       TEXT NOT NULL UNIQUE,
    payload     TEXT NOT NULL,
    created_at  INTEGER NOT NULL
  );
  `,
  // entries cached before this table existed have no source: foreign upstreams must serve them once more
  `
  CREATE TABLE sources (
    digest      TEXT NOT NULL,
    upstream    TEXT NOT NULL,
    PRIMARY KEY (digest, upstream)
  ) WITHOUT ROWID;
  `,
  // entries from before this column are unverified (NULL): each is re-hashed before it is served again
  `
  ALTER TABLE blobs ADD COLUMN verified_at INTEGER;
  CREATE INDEX blobs_verified ON blobs(verified_at);
  `,
]

/** A usage batch waiting for the control plane's acknowledgement. */
export interface OutboxBatch {
  seq: number
  siteId: string
  batch: string
  /** The JSON body to POST: `{batch, entries}`. */
  payload: string
  createdAt: number
}

const SEQ_KEY = 'metrics_seq'
const SCHEMA_VERSION = MIGRATIONS.length

interface EntryRow {
  digest: string
  size: number
  media_type: string | null
  stored_at: number
  last_access: number
  hits: number
  verified_at: number | null
}

/** The cache's SQLite index (WAL). Every statement is prepared once; multi-row changes run in transactions. */
export class IndexDb {
  readonly #db: Database.Database
  readonly #entry: Statement
  readonly #insert: Statement
  readonly #touch: Statement
  readonly #verified: Statement
  readonly #unverifyAll: Statement
  readonly #dueForScrub: Statement
  readonly #delete: Statement
  readonly #deleteLinks: Statement
  readonly #lru: Statement
  readonly #all: Statement
  readonly #used: Statement
  readonly #count: Statement
  readonly #hasLink: Statement
  readonly #hasSource: Statement
  readonly #addSource: Statement
  readonly #deleteSources: Statement
  readonly #link: Statement
  readonly #tag: Statement
  readonly #putTag: Statement
  readonly #checkTag: Statement
  readonly #deleteTag: Statement
  readonly #getMeta: Statement
  readonly #setMeta: Statement
  readonly #orphanLinks: Statement
  readonly #outboxAdd: Statement
  readonly #outboxList: Statement
  readonly #outboxDelete: Statement
  readonly #outboxCount: Statement
  readonly #outboxDropOthers: Statement

  readonly #ping: Statement

  /** `onOpen` sees the database before any statement is prepared (metrics time them). */
  constructor(file: string, opts: { onOpen?: (db: Database.Database) => void } = {}) {
    this.#db = new Database(file)
    opts.onOpen?.(this.#db)
    this.#db.pragma('journal_mode = WAL')
    // NORMAL: a crash may lose the last commits but never corrupts; start-up repair reconciles files and rows
    this.#db.pragma('synchronous = NORMAL')
    this.#db.pragma('busy_timeout = 5000')
    migrate(this.#db)
    const db = this.#db
    this.#ping = db.prepare('SELECT 1').pluck()
    this.#entry = db.prepare('SELECT * FROM blobs WHERE digest = ?')
    this.#insert = db.prepare(
      `INSERT INTO blobs (digest, size, media_type, stored_at, last_access, hits, verified_at) VALUES (?, ?, ?, ?, ?, 0, ?)
       ON CONFLICT(digest) DO UPDATE SET last_access = excluded.last_access`,
    )
    this.#verified = db.prepare('UPDATE blobs SET verified_at = ? WHERE digest = ?')
    this.#unverifyAll = db.prepare('UPDATE blobs SET verified_at = NULL WHERE verified_at IS NOT NULL')
    // NULLs sort first: entries waiting for their re-hash after an unclean stop come before the routine ones
    this.#dueForScrub = db.prepare(
      `SELECT digest, size FROM blobs WHERE verified_at IS NULL OR verified_at <= ?
       ORDER BY verified_at, digest LIMIT 1`,
    )
    this.#touch = db.prepare('UPDATE blobs SET last_access = ?, hits = hits + 1 WHERE digest = ?')
    this.#delete = db.prepare('DELETE FROM blobs WHERE digest = ?')
    this.#deleteLinks = db.prepare('DELETE FROM links WHERE digest = ?')
    this.#lru = db.prepare('SELECT digest, size FROM blobs ORDER BY last_access, digest')
    this.#all = db.prepare('SELECT digest, size FROM blobs')
    this.#used = db.prepare('SELECT COALESCE(SUM(size), 0) FROM blobs').pluck()
    this.#count = db.prepare('SELECT COUNT(*) FROM blobs').pluck()
    this.#hasLink = db.prepare('SELECT 1 FROM links WHERE upstream = ? AND repository = ? AND digest = ?').pluck()
    this.#hasSource = db.prepare('SELECT 1 FROM sources WHERE digest = ? AND upstream = ?').pluck()
    this.#addSource = db.prepare('INSERT OR IGNORE INTO sources (digest, upstream) VALUES (?, ?)')
    this.#deleteSources = db.prepare('DELETE FROM sources WHERE digest = ?')
    this.#link = db.prepare('INSERT OR IGNORE INTO links (upstream, repository, digest, linked_at) VALUES (?, ?, ?, ?)')
    this.#tag = db.prepare(
      'SELECT digest, media_type, checked_at FROM tags WHERE upstream = ? AND repository = ? AND tag = ?',
    )
    this.#putTag = db.prepare(
      `INSERT INTO tags (upstream, repository, tag, digest, media_type, checked_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT(upstream, repository, tag) DO UPDATE SET digest = excluded.digest, media_type = excluded.media_type,
       checked_at = excluded.checked_at`,
    )
    this.#checkTag = db.prepare('UPDATE tags SET checked_at = ? WHERE upstream = ? AND repository = ? AND tag = ?')
    this.#deleteTag = db.prepare('DELETE FROM tags WHERE upstream = ? AND repository = ? AND tag = ?')
    this.#getMeta = db.prepare('SELECT value FROM meta WHERE key = ?').pluck()
    this.#setMeta = db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    )
    this.#orphanLinks = db.prepare('DELETE FROM links WHERE linked_at < ? AND digest NOT IN (SELECT digest FROM blobs)')
    this.#outboxAdd = db.prepare(
      'INSERT INTO metrics_outbox (seq, site_id, batch, payload, created_at) VALUES (?, ?, ?, ?, ?)',
    )
    this.#outboxList = db.prepare(
      'SELECT seq, site_id, batch, payload, created_at FROM metrics_outbox WHERE site_id = ? ORDER BY seq LIMIT ?',
    )
    this.#outboxDelete = db.prepare('DELETE FROM metrics_outbox WHERE seq = ?')
    this.#outboxCount = db.prepare('SELECT COUNT(*) FROM metrics_outbox').pluck()
    this.#outboxDropOthers = db.prepare('DELETE FROM metrics_outbox WHERE site_id <> ?')
  }

  entry(digest: string): Entry | undefined {
    const r = this.#entry.get(digest) as EntryRow | undefined
    return (
      r && {
        digest: r.digest,
        size: r.size,
        mediaType: r.media_type,
        storedAt: r.stored_at,
        lastAccess: r.last_access,
        hits: r.hits,
        verifiedAt: r.verified_at,
      }
    )
  }

  /** Adds an entry whose bytes `source` (an upstream's index key) just served, verified. */
  insert(e: { digest: string; size: number; mediaType: string | null }, now: number, source: string): void {
    this.#db.transaction(() => {
      // a fill's bytes hashed to the digest on the way in
      this.#insert.run(e.digest, e.size, e.mediaType, now, now, now)
      this.#addSource.run(e.digest, source)
    })()
  }

  /** The entry's file hashed to its digest just now. */
  markVerified(digest: string, now: number): void {
    this.#verified.run(now, digest)
  }

  /** After an unclean stop: every entry is re-hashed before it is served again. Answers how many. */
  unverifyAll(): number {
    return this.#unverifyAll.run().changes
  }

  /** The entry the scrub should hash next: unverified first, then the one verified longest ago, not after `before`. */
  dueForScrub(before: number): { digest: string; size: number } | undefined {
    return this.#dueForScrub.get(before) as { digest: string; size: number } | undefined
  }

  /** Records that an upstream served (verified) the bytes of a cached digest. */
  addSource(digest: string, upstream: string): void {
    this.#addSource.run(digest, upstream)
  }

  /** Whether an upstream has served the bytes of a cached digest (see `sources`). */
  hasSource(digest: string, upstream: string): boolean {
    return this.#hasSource.get(digest, upstream) !== undefined
  }

  /** Records a read: the entry moves to the recent end of the LRU order. */
  touch(digest: string, now: number): void {
    this.#touch.run(now, digest)
  }

  /** Removes entries, the links that point at them and their sources, in one transaction. */
  remove(digests: string[]): void {
    this.#db.transaction(() => {
      for (const d of digests) {
        this.#delete.run(d)
        this.#deleteLinks.run(d)
        this.#deleteSources.run(d)
      }
    })()
  }

  /** Entries from least to most recently used. */
  *leastRecentlyUsed(): IterableIterator<{ digest: string; size: number }> {
    yield* this.#lru.iterate() as IterableIterator<{ digest: string; size: number }>
  }

  all(): { digest: string; size: number }[] {
    return this.#all.all() as { digest: string; size: number }[]
  }

  usedBytes(): number {
    return this.#used.get() as number
  }

  entryCount(): number {
    return this.#count.get() as number
  }

  hasLink(upstream: string, repository: string, digest: string): boolean {
    return this.#hasLink.get(upstream, repository, digest) !== undefined
  }

  link(upstream: string, repository: string, digests: string[], now: number): void {
    if (digests.length === 1) this.#link.run(upstream, repository, digests[0], now)
    else this.#db.transaction(() => digests.forEach((d) => this.#link.run(upstream, repository, d, now)))()
  }

  /** Drops links older than `before` to digests that are not cached (known-good links are cheap to relearn). */
  pruneLinks(before: number): number {
    return this.#orphanLinks.run(before).changes
  }

  tag(upstream: string, repository: string, tag: string): TagRow | undefined {
    const r = this.#tag.get(upstream, repository, tag) as
      { digest: string; media_type: string; checked_at: number } | undefined
    return r && { digest: r.digest, mediaType: r.media_type, checkedAt: r.checked_at }
  }

  putTag(upstream: string, repository: string, tag: string, row: TagRow): void {
    this.#putTag.run(upstream, repository, tag, row.digest, row.mediaType, row.checkedAt)
  }

  /** The upstream confirmed the tag still points where it did. */
  tagChecked(upstream: string, repository: string, tag: string, now: number): void {
    this.#checkTag.run(now, upstream, repository, tag)
  }

  deleteTag(upstream: string, repository: string, tag: string): void {
    this.#deleteTag.run(upstream, repository, tag)
  }

  getMeta<T>(key: string): T | undefined {
    const v = this.#getMeta.get(key) as string | undefined
    return v === undefined ? undefined : (JSON.parse(v) as T)
  }

  setMeta(key: string, value: unknown): void {
    this.#setMeta.run(key, JSON.stringify(value))
  }

  /**
   * Adds usage batches to the outbox in one transaction, each with the next sequence number (persisted with them):
   * `make` builds a batch's payload from its id. Answers the batch ids.
   */
  addBatches(siteId: string, payloads: ((batch: string) => string)[], now: number): string[] {
    if (payloads.length === 0) return []
    return this.#db.transaction(() => {
      let seq = this.getMeta<number>(SEQ_KEY) ?? 0
      const ids: string[] = []
      for (const make of payloads) {
        seq++
        const batch = `${siteId}-${seq}`
        this.#outboxAdd.run(seq, siteId, batch, make(batch), now)
        ids.push(batch)
      }
      this.setMeta(SEQ_KEY, seq)
      return ids
    })()
  }

  /** The oldest batches of a site, in order. */
  pendingBatches(siteId: string, limit = 100): OutboxBatch[] {
    const rows = this.#outboxList.all(siteId, limit) as {
      seq: number
      site_id: string
      batch: string
      payload: string
      created_at: number
    }[]
    return rows.map((r) => ({
      seq: r.seq,
      siteId: r.site_id,
      batch: r.batch,
      payload: r.payload,
      createdAt: r.created_at,
    }))
  }

  /** The control plane acknowledged a batch. */
  deleteBatch(seq: number): void {
    this.#outboxDelete.run(seq)
  }

  outboxCount(): number {
    return this.#outboxCount.get() as number
  }

  /** Drops batches made for another site identity (they cannot be delivered with this one's credential). */
  dropBatchesNotOf(siteId: string): number {
    return this.#outboxDropOthers.run(siteId).changes
  }

  /** Throws unless the database answers `SELECT 1` (readiness). */
  ping(): void {
    this.#ping.get()
  }

  close(): void {
    this.#db.close()
  }
}

function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number
  if (current > SCHEMA_VERSION) {
    throw new Error(
      `cache index schema version ${current} is newer than this program's ${SCHEMA_VERSION}; upgrade Wharf`,
    )
  }
  for (let v = current; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!)
      db.pragma(`user_version = ${v + 1}`)
    })()
  }
}
