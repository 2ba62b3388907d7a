import type { Statement } from 'better-sqlite3'
import type { Db } from './db.ts'

export type Role = 'read' | 'write' | 'admin'

export interface Grant {
  id: number
  subjectType: 'user' | 'team'
  subjectId: number
  /** The user's name, or `org/team`. */
  subject: string
  scopeType: 'namespace' | 'repository'
  scopeName: string
  role: Role
  createdAt: number
  createdBy: string
}

export interface TokenRow {
  id: string
  userId: number
  name: string
  secretHash: string
  kind: 'personal' | 'refresh'
  createdAt: number
  expiresAt: number | null
  lastUsedAt: number | null
  revokedAt: number | null
}

export interface Robot {
  id: number
  name: string
  namespace: string
  description: string
  secretHash: string
  createdAt: number
  createdBy: string
  expiresAt: number | null
  lastUsedAt: number | null
  disabled: boolean
  permissions: { repository: string; actions: string[] }[]
}

const GRANT_SELECT = `SELECT g.id, g.subject_type AS subjectType, g.subject_id AS subjectId,
  CASE g.subject_type WHEN 'user' THEN (SELECT name FROM accounts WHERE id = g.subject_id)
    ELSE (SELECT a.name || '/' || t.name FROM teams t JOIN accounts a ON a.id = t.org_id WHERE t.id = g.subject_id) END AS subject,
  g.scope_type AS scopeType, g.scope_name AS scopeName, g.role, g.created_at AS createdAt, g.created_by AS createdBy
  FROM grants g`
const TOKEN_COLUMNS = `id, user_id AS userId, name, secret_hash AS secretHash, kind, created_at AS createdAt,
  expires_at AS expiresAt, last_used_at AS lastUsedAt, revoked_at AS revokedAt`
const ROBOT_COLUMNS = `id, name, namespace, description, secret_hash AS secretHash, created_at AS createdAt,
  created_by AS createdBy, expires_at AS expiresAt, last_used_at AS lastUsedAt, disabled`

type RawRobot = Omit<Robot, 'disabled' | 'permissions'> & { disabled: number }

/** Grants, personal and refresh tokens, robot accounts and web sessions. */
export class AccessStore {
  readonly #db: Db
  readonly #s: Record<string, Statement>

  constructor(db: Db) {
    this.#db = db
    const p = (sql: string) => db.prepare(sql)
    this.#s = {
      grantUpsert:
        p(`INSERT INTO grants (subject_type, subject_id, scope_type, scope_name, role, created_at, created_by)
                      VALUES (?, ?, ?, ?, ?, ?, ?)
                      ON CONFLICT (subject_type, subject_id, scope_type, scope_name) DO UPDATE SET role = excluded.role`),
      grantDelete: p(
        'DELETE FROM grants WHERE subject_type = ? AND subject_id = ? AND scope_type = ? AND scope_name = ?',
      ),
      grantsOnScope: p(`${GRANT_SELECT} WHERE g.scope_type = ? AND g.scope_name = ? ORDER BY subject`),
      grantsDeleteScope: p('DELETE FROM grants WHERE scope_type = ? AND scope_name = ?'),
      grantsDeleteSubject: p('DELETE FROM grants WHERE subject_type = ? AND subject_id = ?'),
      // the caller's roles on one repository: its own and its teams', on the repository and on its namespace
      rolesFor: p(`SELECT role FROM grants
                   WHERE ((scope_type = 'repository' AND scope_name = @repository) OR (scope_type = 'namespace' AND scope_name = @namespace))
                     AND ((subject_type = 'user' AND subject_id = @userId)
                       OR (subject_type = 'team' AND subject_id IN (SELECT team_id FROM team_members WHERE user_id = @userId)))`).pluck(),
      namespaceRolesFor: p(`SELECT role FROM grants WHERE scope_type = 'namespace' AND scope_name = @namespace
                     AND ((subject_type = 'user' AND subject_id = @userId)
                       OR (subject_type = 'team' AND subject_id IN (SELECT team_id FROM team_members WHERE user_id = @userId)))`).pluck(),
      grantedScopesFor: p(`SELECT scope_type AS scopeType, scope_name AS scopeName FROM grants
                     WHERE (subject_type = 'user' AND subject_id = @userId)
                        OR (subject_type = 'team' AND subject_id IN (SELECT team_id FROM team_members WHERE user_id = @userId))`),
      tokenInsert: p(`INSERT INTO access_tokens (id, user_id, name, secret_hash, kind, created_at, expires_at)
                      VALUES (?, ?, ?, ?, ?, ?, ?)`),
      token: p(`SELECT ${TOKEN_COLUMNS} FROM access_tokens WHERE id = ?`),
      tokensOf: p(`SELECT ${TOKEN_COLUMNS} FROM access_tokens WHERE user_id = ? AND kind = ? ORDER BY created_at`),
      tokenUsed: p('UPDATE access_tokens SET last_used_at = ? WHERE id = ?'),
      tokenRevoke: p('UPDATE access_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
      tokensRevokeUser: p('UPDATE access_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL'),
      robotInsert: p(`INSERT INTO robots (name, namespace, description, secret_hash, created_at, created_by, expires_at)
                      VALUES (?, ?, ?, ?, ?, ?, ?)`),
      robotPermInsert: p('INSERT INTO robot_permissions (robot_id, repository, actions) VALUES (?, ?, ?)'),
      robot: p(`SELECT ${ROBOT_COLUMNS} FROM robots WHERE name = ?`),
      robotsIn: p(`SELECT ${ROBOT_COLUMNS} FROM robots WHERE namespace = ? ORDER BY name`),
      robotPerms: p('SELECT repository, actions FROM robot_permissions WHERE robot_id = ? ORDER BY repository'),
      robotUsed: p('UPDATE robots SET last_used_at = ? WHERE id = ?'),
      robotDelete: p('DELETE FROM robots WHERE name = ?'),
      robotsDeleteIn: p('DELETE FROM robots WHERE namespace = ?'),
      sessionInsert: p('INSERT INTO sessions (id_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)'),
      session: p('SELECT user_id AS userId, expires_at AS expiresAt FROM sessions WHERE id_hash = ?'),
      sessionDelete: p('DELETE FROM sessions WHERE id_hash = ?'),
      sessionsDeleteUser: p('DELETE FROM sessions WHERE user_id = ?'),
      sessionsPurge: p('DELETE FROM sessions WHERE expires_at < ?'),
    }
  }

  setGrant(g: Omit<Grant, 'id' | 'subject'>): void {
    this.#s.grantUpsert!.run(g.subjectType, g.subjectId, g.scopeType, g.scopeName, g.role, g.createdAt, g.createdBy)
  }

  deleteGrant(
    subjectType: 'user' | 'team',
    subjectId: number,
    scopeType: 'namespace' | 'repository',
    scopeName: string,
  ): boolean {
    return this.#s.grantDelete!.run(subjectType, subjectId, scopeType, scopeName).changes > 0
  }

  grantsOn(scopeType: 'namespace' | 'repository', scopeName: string): Grant[] {
    return this.#s.grantsOnScope!.all(scopeType, scopeName) as Grant[]
  }

  deleteGrantsOn(scopeType: 'namespace' | 'repository', scopeName: string): void {
    this.#s.grantsDeleteScope!.run(scopeType, scopeName)
  }

  /** Removes every grant held by a user or team (when it is deleted: ids are not foreign keys here). */
  deleteGrantsOf(subjectType: 'user' | 'team', subjectId: number): number {
    return this.#s.grantsDeleteSubject!.run(subjectType, subjectId).changes
  }

  /** Roles a user holds on a repository, directly or through teams, on it or on its namespace. */
  rolesFor(userId: number, repository: string, namespace: string): Role[] {
    return this.#s.rolesFor!.all({ userId, repository, namespace }) as Role[]
  }

  namespaceRolesFor(userId: number, namespace: string): Role[] {
    return this.#s.namespaceRolesFor!.all({ userId, namespace }) as Role[]
  }

  /** Every namespace and repository a user holds some grant on. */
  grantedScopesFor(userId: number): { scopeType: 'namespace' | 'repository'; scopeName: string }[] {
    return this.#s.grantedScopesFor!.all({ userId }) as { scopeType: 'namespace' | 'repository'; scopeName: string }[]
  }

  insertToken(t: Omit<TokenRow, 'lastUsedAt' | 'revokedAt'>): void {
    this.#s.tokenInsert!.run(t.id, t.userId, t.name, t.secretHash, t.kind, t.createdAt, t.expiresAt)
  }

  token(id: string): TokenRow | undefined {
    return this.#s.token!.get(id) as TokenRow | undefined
  }

  tokensOf(userId: number, kind: 'personal' | 'refresh'): TokenRow[] {
    return this.#s.tokensOf!.all(userId, kind) as TokenRow[]
  }

  tokenUsed(id: string, now: number): void {
    this.#s.tokenUsed!.run(now, id)
  }

  revokeToken(id: string, now: number): boolean {
    return this.#s.tokenRevoke!.run(now, id).changes > 0
  }

  /** Revokes every token of a user and ends their web sessions. */
  revokeAllOf(userId: number, now: number): number {
    return this.#db.transaction(() => {
      this.#s.sessionsDeleteUser!.run(userId)
      return this.#s.tokensRevokeUser!.run(now, userId).changes
    })()
  }

  insertRobot(r: Omit<Robot, 'id' | 'lastUsedAt' | 'disabled'>): Robot {
    this.#db.transaction(() => {
      const info = this.#s.robotInsert!.run(
        r.name,
        r.namespace,
        r.description,
        r.secretHash,
        r.createdAt,
        r.createdBy,
        r.expiresAt,
      )
      for (const perm of r.permissions) {
        this.#s.robotPermInsert!.run(Number(info.lastInsertRowid), perm.repository, perm.actions.join(','))
      }
    })()
    return this.robot(r.name)!
  }

  robot(name: string): Robot | undefined {
    const raw = this.#s.robot!.get(name) as RawRobot | undefined
    return raw && this.#withPerms(raw)
  }

  robotsIn(namespace: string): Robot[] {
    return (this.#s.robotsIn!.all(namespace) as RawRobot[]).map((r) => this.#withPerms(r))
  }

  robotUsed(id: number, now: number): void {
    this.#s.robotUsed!.run(now, id)
  }

  deleteRobot(name: string): boolean {
    return this.#s.robotDelete!.run(name).changes > 0
  }

  /** Deletes every robot of a namespace (when the namespace's account is deleted). */
  deleteRobotsIn(namespace: string): number {
    return this.#s.robotsDeleteIn!.run(namespace).changes
  }

  insertSession(idHash: string, userId: number, now: number, expiresAt: number): void {
    this.#s.sessionsPurge!.run(now)
    this.#s.sessionInsert!.run(idHash, userId, now, expiresAt)
  }

  session(idHash: string): { userId: number; expiresAt: number } | undefined {
    return this.#s.session!.get(idHash) as { userId: number; expiresAt: number } | undefined
  }

  deleteSession(idHash: string): void {
    this.#s.sessionDelete!.run(idHash)
  }

  #withPerms(raw: RawRobot): Robot {
    const perms = this.#s.robotPerms!.all(raw.id) as { repository: string; actions: string }[]
    return {
      ...raw,
      disabled: raw.disabled === 1,
      permissions: perms.map((p) => ({ repository: p.repository, actions: p.actions.split(',') })),
    }
  }
}
