import Database from 'better-sqlite3'

export type Db = Database.Database

/**
 * Schema migrations, applied in order; `PRAGMA user_version` records how many have run.
 * Append only: a released migration is never edited.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE repositories (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL
  );
  CREATE TABLE blobs (
    digest      TEXT PRIMARY KEY,
    size        INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
  ) WITHOUT ROWID;
  -- which repository may serve which blob: a blob is readable through a repository only with a row here
  CREATE TABLE repository_blobs (
    repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    digest        TEXT NOT NULL REFERENCES blobs(digest),
    created_at    INTEGER NOT NULL,
    pushed_by     TEXT NOT NULL,
    PRIMARY KEY (repository_id, digest)
  ) WITHOUT ROWID;
  CREATE INDEX repository_blobs_digest ON repository_blobs(digest);
  -- manifests keep the exact bytes they were pushed with
  CREATE TABLE manifests (
    repository_id  INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    digest         TEXT NOT NULL,
    media_type     TEXT NOT NULL,
    size           INTEGER NOT NULL,
    body           BLOB NOT NULL,
    artifact_type  TEXT,
    subject_digest TEXT,
    annotations    TEXT,
    created_at     INTEGER NOT NULL,
    pushed_by      TEXT NOT NULL,
    PRIMARY KEY (repository_id, digest)
  ) WITHOUT ROWID;
  CREATE INDEX manifests_subject ON manifests(repository_id, subject_digest) WHERE subject_digest IS NOT NULL;
  -- what each manifest references (config, layers, child manifests): the graph garbage collection walks
  CREATE TABLE manifest_references (
    repository_id   INTEGER NOT NULL,
    manifest_digest TEXT NOT NULL,
    child_digest    TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('blob', 'manifest')),
    PRIMARY KEY (repository_id, manifest_digest, child_digest),
    FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
  ) WITHOUT ROWID;
  CREATE TABLE tags (
    repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    digest        TEXT NOT NULL,
    updated_at    INTEGER NOT NULL,
    pushed_by     TEXT NOT NULL,
    PRIMARY KEY (repository_id, name),
    FOREIGN KEY (repository_id, digest) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
  ) WITHOUT ROWID;
  CREATE INDEX tags_digest ON tags(repository_id, digest);
  CREATE TABLE uploads (
    id          TEXT PRIMARY KEY,
    repository  TEXT NOT NULL,
    offset      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  `
  -- users, organizations and robots share one namespace of names
  CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL CHECK (kind IN ('user', 'org')),
    full_name     TEXT NOT NULL DEFAULT '',
    email         TEXT NOT NULL DEFAULT '',
    password_hash TEXT,
    source        TEXT NOT NULL DEFAULT 'local' CHECK (source IN ('local', 'ldap')),
    ldap_dn       TEXT,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
  );
  CREATE UNIQUE INDEX accounts_ldap_dn ON accounts(ldap_dn) WHERE ldap_dn IS NOT NULL;
  CREATE TABLE org_members (
    org_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    user_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    is_owner  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, user_id)
  ) WITHOUT ROWID;
  CREATE TABLE teams (
    id          INTEGER PRIMARY KEY,
    org_id      INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    ldap_group  TEXT,
    created_at  INTEGER NOT NULL,
    UNIQUE (org_id, name)
  );
  CREATE TABLE team_members (
    team_id  INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
  ) WITHOUT ROWID;
  CREATE INDEX team_members_user ON team_members(user_id);
  ALTER TABLE repositories ADD COLUMN visibility TEXT NOT NULL DEFAULT 'private' CHECK (visibility IN ('private', 'public'));
  ALTER TABLE repositories ADD COLUMN description TEXT NOT NULL DEFAULT '';
  -- a role on a whole namespace (scope_name = the namespace) or on one repository, for a user or a team
  CREATE TABLE grants (
    id           INTEGER PRIMARY KEY,
    subject_type TEXT NOT NULL CHECK (subject_type IN ('user', 'team')),
    subject_id   INTEGER NOT NULL,
    scope_type   TEXT NOT NULL CHECK (scope_type IN ('namespace', 'repository')),
    scope_name   TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('read', 'write', 'admin')),
    created_at   INTEGER NOT NULL,
    created_by   TEXT NOT NULL,
    UNIQUE (subject_type, subject_id, scope_type, scope_name)
  );
  CREATE INDEX grants_scope ON grants(scope_type, scope_name);
  -- personal access tokens: only a hash of the secret is kept
  CREATE TABLE access_tokens (
    id           TEXT PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('personal', 'refresh')),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER
  ) WITHOUT ROWID;
  CREATE INDEX access_tokens_user ON access_tokens(user_id);
  CREATE TABLE robots (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    namespace    TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    secret_hash  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    created_by   TEXT NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    disabled     INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE robot_permissions (
    robot_id   INTEGER NOT NULL REFERENCES robots(id) ON DELETE CASCADE,
    repository TEXT NOT NULL,
    actions    TEXT NOT NULL,
    PRIMARY KEY (robot_id, repository)
  ) WITHOUT ROWID;
  CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target      TEXT NOT NULL,
    address     TEXT,
    outcome     TEXT NOT NULL DEFAULT 'success',
    detail      TEXT
  );
  CREATE INDEX events_at ON events(at);
  CREATE INDEX events_actor ON events(actor, at);
  CREATE INDEX events_target ON events(target, at);
  `,
  `
  -- failed-login counters (origin/services/login-limiter.ts): kept here so that a restart does not clear them
  CREATE TABLE login_attempts (
    key          TEXT PRIMARY KEY,
    attempts     INTEGER NOT NULL,
    window_start INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX login_attempts_window ON login_attempts(window_start);
  `,
  `
  -- events are attributed by id (a deleted account's name can be registered again); events written before this
  -- have no id and are shown to admins only
  ALTER TABLE events ADD COLUMN actor_kind TEXT NOT NULL DEFAULT 'system'
    CHECK (actor_kind IN ('user', 'robot', 'anonymous', 'system'));
  ALTER TABLE events ADD COLUMN actor_id INTEGER;
  UPDATE events SET actor_kind = 'anonymous' WHERE actor = 'anonymous';
  UPDATE events SET actor_kind = 'user' WHERE actor NOT IN ('anonymous', 'system', 'ldap', 'schedule');
  CREATE INDEX events_actor_id ON events(actor_kind, actor_id, id);
  -- ids are never reused either: AUTOINCREMENT keeps a deleted account's, team's or robot's id retired
  CREATE TABLE accounts_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL CHECK (kind IN ('user', 'org')),
    full_name     TEXT NOT NULL DEFAULT '',
    email         TEXT NOT NULL DEFAULT '',
    password_hash TEXT,
    source        TEXT NOT NULL DEFAULT 'local' CHECK (source IN ('local', 'ldap')),
    ldap_dn       TEXT,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
  );
  INSERT INTO accounts_new (id, name, kind, full_name, email, password_hash, source, ldap_dn, is_admin, active, created_at, updated_at)
    SELECT id, name, kind, full_name, email, password_hash, source, ldap_dn, is_admin, active, created_at, updated_at FROM accounts;
  DROP TABLE accounts;
  ALTER TABLE accounts_new RENAME TO accounts;
  CREATE UNIQUE INDEX accounts_ldap_dn ON accounts(ldap_dn) WHERE ldap_dn IS NOT NULL;
  CREATE TABLE teams_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id      INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    ldap_group  TEXT,
    created_at  INTEGER NOT NULL,
    UNIQUE (org_id, name)
  );
  INSERT INTO teams_new (id, org_id, name, description, ldap_group, created_at)
    SELECT id, org_id, name, description, ldap_group, created_at FROM teams;
  DROP TABLE teams;
  ALTER TABLE teams_new RENAME TO teams;
  CREATE TABLE robots_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,
    namespace    TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    secret_hash  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    created_by   TEXT NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    disabled     INTEGER NOT NULL DEFAULT 0
  );
  INSERT INTO robots_new (id, name, namespace, description, secret_hash, created_at, created_by, expires_at, last_used_at, disabled)
    SELECT id, name, namespace, description, secret_hash, created_at, created_by, expires_at, last_used_at, disabled FROM robots;
  DROP TABLE robots;
  ALTER TABLE robots_new RENAME TO robots;
  `,
  `
  -- when a manifest was last pulled (a GET of it, by tag or digest): the web UI's "last pulled"
  ALTER TABLE manifests ADD COLUMN pulled_at INTEGER;
  `,
  `
  -- a repository's long description (Markdown), besides the short one
  ALTER TABLE repositories ADD COLUMN long_description TEXT NOT NULL DEFAULT '';
  `,
]

export const SCHEMA_VERSION = MIGRATIONS.length

/** Opens (creating if needed) a SQLite database in WAL mode and brings its schema up to date. */
export function openDb(file: string): Db {
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  // FULL: a commit is on disk before the client hears 201, so an acknowledged push survives a power cut too
  db.pragma('synchronous = FULL')
  db.pragma('foreign_keys = ON')
  db.pragma('busy_timeout = 5000')
  migrate(db)
  return db
}

function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number
  if (current > SCHEMA_VERSION) {
    throw new Error(`database schema version ${current} is newer than this program's ${SCHEMA_VERSION}; upgrade Wharf`)
  }
  if (current === SCHEMA_VERSION) return
  // SQLite's way to rebuild a table that others reference: foreign keys off (outside any transaction), rebuild,
  // check every reference still holds, then on again; dropping the old table would otherwise cascade its deletes
  db.pragma('foreign_keys = OFF')
  try {
    for (let v = current; v < SCHEMA_VERSION; v++) {
      db.transaction(() => {
        db.exec(MIGRATIONS[v]!)
        const broken = db.pragma('foreign_key_check') as unknown[]
        if (broken.length > 0) throw new Error(`migration ${v + 1} broke ${broken.length} foreign key references`)
        db.pragma(`user_version = ${v + 1}`)
      })()
    }
  } finally {
    db.pragma('foreign_keys = ON')
  }
}
