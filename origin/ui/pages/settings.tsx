import type { FC } from 'hono/jsx'
import type { EventView } from '../../services/audit.ts'
import type { LdapTestResult } from '../../services/ldap.ts'
import type { PublicLdapSettings } from '../../services/ldap-settings.ts'
import type { RegistrySettings } from '../../services/settings.ts'
import { Time } from '../format.tsx'
import { Layout, Messages, PostForm, type PageContext } from '../layout.tsx'
import type { Flash } from './people.tsx'

export interface SettingsPageProps extends Flash {
  ctx: PageContext
  registry: RegistrySettings
  ldap: PublicLdapSettings
  /** The latest LDAP sync, from the event log. */
  lastSync: EventView | undefined
  test?: LdapTestResult
  /** The form shows settings that are not saved, with a password typed but not kept. */
  unsavedPassword?: boolean
  now: number
}

const TEXT_FIELDS: { name: keyof PublicLdapSettings; label: string; placeholder?: string }[] = [
  { name: 'url', label: 'Server URL', placeholder: 'ldaps://ldap.example.com' },
  { name: 'bindDn', label: 'Service account DN', placeholder: 'cn=reader,dc=example,dc=com' },
  { name: 'userBaseDn', label: 'User search base', placeholder: 'ou=people,dc=example,dc=com' },
  { name: 'userFilter', label: 'User filter' },
  { name: 'usernameAttribute', label: 'Username attribute' },
  { name: 'fullNameAttribute', label: 'Full name attribute' },
  { name: 'emailAttribute', label: 'Email attribute' },
  { name: 'groupBaseDn', label: 'Group search base' },
  { name: 'groupFilter', label: 'Group filter' },
  { name: 'groupMemberAttribute', label: 'Group member attribute' },
  { name: 'adminGroupDn', label: 'Administrators group DN' },
  { name: 'syncSchedule', label: 'Sync schedule (cron)', placeholder: '0 * * * *' },
]

const SyncSummary: FC<{ e: EventView; now: number }> = ({ e, now }) => {
  const d = (e.detail ?? {}) as Record<string, unknown>
  const n = (k: string) => (typeof d[k] === 'number' ? (d[k] as number) : 0)
  const errors = Array.isArray(d.errors) ? (d.errors as string[]) : []
  return (
    <div class={`card sync ${e.outcome}`} id="last-sync">
      <p>
        Last sync <Time iso={e.at} now={now} /> by {e.actor}:{' '}
        <strong>{e.outcome === 'success' ? 'ok' : 'failed'}</strong>
      </p>
      <p class="muted small">
        {n('usersFound')} users found · {n('created')} created · {n('updated')} updated · {n('deactivated')} deactivated
        · {n('reactivated')} reactivated · team memberships +{n('teamMembershipsAdded')} −{n('teamMembershipsRemoved')}
        {d.guardTriggered ? ' · the search found nobody, so nobody was deactivated' : ''}
      </p>
      {errors.length > 0 ? (
        <ul class="errors">
          {errors.map((x) => (
            <li>{x}</li>
          ))}
        </ul>
      ) : null}
    </div>
  )
}

export const SettingsPage: FC<SettingsPageProps> = (p) => (
  <Layout ctx={p.ctx} title="Settings">
    <h1>Settings</h1>
    <Messages notice={p.notice} error={p.error} />

    <section aria-labelledby="registry-h">
      <h2 id="registry-h">Registry</h2>
      <PostForm action="/settings/registry" csrf={p.ctx.csrf} class="stack">
        <label class="check">
          <input type="checkbox" name="createRepositoryOnPush" value="1" checked={p.registry.createRepositoryOnPush} />{' '}
          Create a repository on its first push (private, in a namespace the pusher may write to)
        </label>
        <button type="submit" class="primary">
          Save registry settings
        </button>
      </PostForm>
    </section>

    <section aria-labelledby="keys-h">
      <h2 id="keys-h">Token signing key</h2>
      <p class="muted">
        A new key signs registry tokens and blob grants from now on; the old one keeps verifying what it signed until
        that expires, and caches learn the new key on their own.
      </p>
      <PostForm action="/settings/keys/rotate" csrf={p.ctx.csrf}>
        <button type="submit">Rotate the signing key</button>
      </PostForm>
    </section>

    <section aria-labelledby="ldap-h">
      <h2 id="ldap-h">LDAP / Active Directory</h2>
      {p.lastSync ? <SyncSummary e={p.lastSync} now={p.now} /> : <p class="muted">No sync has run yet.</p>}
      {p.test ? (
        <p class={p.test.ok ? 'notice' : 'alert'} role="status" id="ldap-test">
          {p.test.ok
            ? `Connection works: ${p.test.usersFound} users found (${p.test.sample.join(', ')})${p.test.groupsFound !== undefined ? `, ${p.test.groupsFound} groups` : ''}.`
            : `Test failed: ${p.test.error ?? 'unknown error'}`}
        </p>
      ) : null}
      <PostForm action="/settings/ldap" csrf={p.ctx.csrf} class="stack">
        <label class="check">
          <input type="checkbox" name="enabled" value="1" checked={p.ldap.enabled} /> Sign in and sync with the
          directory
        </label>
        {TEXT_FIELDS.map((f) => (
          <label>
            {f.label}
            <input name={f.name} value={String(p.ldap[f.name] ?? '')} maxlength={65536} placeholder={f.placeholder} />
          </label>
        ))}
        <label>
          Service account password{' '}
          {p.unsavedPassword
            ? '(not saved: type it again to save)'
            : p.ldap.bindPasswordSet
              ? '(set; leave empty to keep it)'
              : ''}
          <input name="bindPassword" type="password" autocomplete="new-password" maxlength={65536} />
        </label>
        <label class="check">
          <input type="checkbox" name="startTls" value="1" checked={p.ldap.startTls} /> StartTLS on ldap:// URLs
        </label>
        <label class="check">
          <input type="checkbox" name="tlsRejectUnauthorized" value="1" checked={p.ldap.tlsRejectUnauthorized} /> Check
          the server's certificate
        </label>
        <label>
          CA certificates (PEM, empty for the system's)
          <textarea name="tlsCaPem" rows={3} maxlength={65536}>
            {p.ldap.tlsCaPem}
          </textarea>
        </label>
        <div class="row-form">
          <button type="submit" class="primary">
            Save LDAP settings
          </button>
          <button type="submit" formaction="/settings/ldap/test">
            Test connection
          </button>
        </div>
      </PostForm>
      <PostForm action="/settings/ldap/sync" csrf={p.ctx.csrf}>
        <button type="submit" disabled={!p.ldap.enabled}>
          Sync now
        </button>
      </PostForm>
    </section>
  </Layout>
)
