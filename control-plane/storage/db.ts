import Database from 'better-sqlite3'
import type { KeyValueStore } from '../../lib/origin-keys.ts'

export type Db = Database.Database

/**
 * Schema migrations, applied in order; `PRAGMA user_version` records how many have run.
 * Append only: a released migration is never edited.
 */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE sites (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    url               TEXT,
    region            TEXT,
    latitude          REAL,
    longitude         REAL,
    networks          TEXT NOT NULL DEFAULT '[]',
    -- the upstream site; a deleted parent leaves its children pointing at the origin
    parent_id         TEXT REFERENCES sites(id) ON DELETE SET NULL,
    capacity_bytes    INTEGER,
    is_default        INTEGER NOT NULL DEFAULT 0,
    ca_certificate    TEXT,
    -- sha256 (hex) of the secret of the site credential; null until a node joins as this site
    credential_hash   TEXT,
    health_state      TEXT NOT NULL DEFAULT 'unknown' CHECK (health_state IN ('unknown', 'up', 'down')),
    health_since      INTEGER,
    last_heartbeat_at INTEGER,
    -- the last heartbeat's figures, as JSON
    stats             TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE health_history (
    id       INTEGER PRIMARY KEY,
    site_id  TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    state    TEXT NOT NULL,
    at       INTEGER NOT NULL,
    reason   TEXT NOT NULL
  );
  CREATE INDEX health_history_site ON health_history(site_id, id);
  CREATE TABLE join_tokens (
    id           TEXT PRIMARY KEY,
    secret_hash  TEXT NOT NULL,
    site_id      TEXT REFERENCES sites(id) ON DELETE CASCADE,
    expires_at   INTEGER NOT NULL,
    uses_left    INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE assignments (
    kind     TEXT NOT NULL CHECK (kind IN ('user', 'team', 'org')),
    subject  TEXT NOT NULL,
    site_id  TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (kind, subject)
  ) WITHOUT ROWID;
  CREATE TABLE networks (
    id         TEXT PRIMARY KEY,
    cidr       TEXT NOT NULL,
    latitude   REAL NOT NULL,
    longitude  REAL NOT NULL,
    label      TEXT,
    created_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  -- metric batches already counted, per site: a batch delivered again is acknowledged, not counted
  CREATE TABLE metric_batches (
    site_id     TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    batch       TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (site_id, batch)
  ) WITHOUT ROWID;
  -- counters per site, repository and UTC hour; kept when a site is removed (reports name it by id then)
  CREATE TABLE usage (
    site_id             TEXT NOT NULL,
    repository          TEXT NOT NULL,
    hour                INTEGER NOT NULL,
    requests            INTEGER NOT NULL DEFAULT 0,
    hits                INTEGER NOT NULL DEFAULT 0,
    misses              INTEGER NOT NULL DEFAULT 0,
    bytes_to_clients    INTEGER NOT NULL DEFAULT 0,
    bytes_from_upstream INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, repository, hour)
  ) WITHOUT ROWID;
  CREATE INDEX usage_hour ON usage(hour);
  `,
]

/** Opens (creating if needed) the control plane's database: WAL, synchronous FULL, foreign keys, migrated. */
export function openDb(file: string): Db {
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.pragma('foreign_keys = ON')
  db.pragma('busy_timeout = 5000')
  const version = db.pragma('user_version', { simple: true }) as number
  if (version > MIGRATIONS.length) {
    throw new Error(`${file} has schema version ${version}, newer than this control plane knows (${MIGRATIONS.length})`)
  }
  for (let i = version; i < MIGRATIONS.length; i++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[i]!)
      db.pragma(`user_version = ${i + 1}`)
    })()
  }
  return db
}

/** Small values the program keeps between runs (what it learned from the origin), as JSON. */
export class MetaStore implements KeyValueStore {
  readonly #get: Database.Statement<[string], { value: string }>
  readonly #set: Database.Statement<[string, string]>

  constructor(db: Db) {
    this.#get = db.prepare('SELECT value FROM meta WHERE key = ?')
    this.#set = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value')
  }

  getMeta<T>(key: string): T | undefined {
    const row = this.#get.get(key)
    return row ? (JSON.parse(row.value) as T) : undefined
  }

  setMeta(key: string, value: unknown): void {
    this.#set.run(key, JSON.stringify(value))
  }
}
