import type { FC } from 'hono/jsx'
import type { AccountView } from '../../services/accounts.ts'
import type { GrantView } from '../../services/grants.ts'
import type { MemberView, TeamView } from '../../services/orgs.ts'
import { Copyable, Time } from '../format.tsx'
import { Grants } from '../grants.tsx'
import { Layout, Messages, PostForm, type PageContext, TableHead } from '../layout.tsx'

export interface Flash {
  notice?: string
  error?: string
}

export const OrgsPage: FC<{ ctx: PageContext; orgs: AccountView[]; canCreate: boolean; now: number } & Flash> = (p) => (
  <Layout ctx={p.ctx} title="Organizations">
    <h1>Organizations</h1>
    <Messages notice={p.notice} error={p.error} />
    {p.orgs.length === 0 ? (
      <p class="muted">No organizations {p.canCreate ? 'yet' : 'you belong to'}.</p>
    ) : (
      <div class="table-wrap">
        <table class="list" id="orgs">
          <TableHead cols={['Name', 'Full name', 'Created']} />
          <tbody>
            {p.orgs.map((o) => (
              <tr>
                <td>
                  <a href={`/orgs/${o.name}`} class="repo-name">
                    {o.name}
                  </a>
                </td>
                <td>{o.fullName}</td>
                <td>
                  <Time iso={o.createdAt} now={p.now} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    )}
    {p.canCreate ? (
      <PostForm action="/orgs" csrf={p.ctx.csrf} class="row-form">
        <label>
          Organization name
          <input name="name" required maxlength={255} pattern="[a-z0-9][a-z0-9._\-]*" />
        </label>
        <label>
          Full name
          <input name="fullName" maxlength={255} />
        </label>
        <button type="submit" class="primary">
          Create organization
        </button>
      </PostForm>
    ) : null}
  </Layout>
)

export const OrgPage: FC<
  {
    ctx: PageContext
    org: AccountView
    members: MemberView[]
    teams: TeamView[]
    /** Grants on the whole namespace; undefined when the caller may not manage them. */
    grants: GrantView[] | undefined
    owner: boolean
  } & Flash
> = (p) => {
  const base = `/orgs/${p.org.name}`
  return (
    <Layout ctx={p.ctx} title={p.org.name}>
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href="/orgs">Organizations</a>
      </nav>
      <h1>
        {p.org.name} {p.org.fullName ? <span class="muted">{p.org.fullName}</span> : null}
      </h1>
      <p class="small">
        <a href={`/repositories?namespace=${p.org.name}`}>Its repositories →</a>
      </p>
      <Messages notice={p.notice} error={p.error} />

      <section aria-labelledby="members-h">
        <h2 id="members-h">Members</h2>
        <div class="table-wrap">
          <table class="list" id="members">
            <tbody>
              {p.members.map((m) => (
                <tr data-member={m.name}>
                  <td>{m.name}</td>
                  <td>{m.isOwner ? <span class="badge">owner</span> : <span class="muted">member</span>}</td>
                  {p.owner ? (
                    <td class="num">
                      <PostForm action={`${base}/members`} csrf={p.ctx.csrf} class="inline">
                        <input type="hidden" name="user" value={m.name} />
                        <input type="hidden" name="owner" value={m.isOwner ? '' : '1'} />
                        <button type="submit" class="link">
                          {m.isOwner ? 'Make member' : 'Make owner'}
                        </button>
                      </PostForm>{' '}
                      ·{' '}
                      <PostForm action={`${base}/members/remove`} csrf={p.ctx.csrf} class="inline">
                        <input type="hidden" name="user" value={m.name} />
                        <button type="submit" class="link danger-link" aria-label={`Remove ${m.name}`}>
                          Remove
                        </button>
                      </PostForm>
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {p.owner ? (
          <PostForm action={`${base}/members`} csrf={p.ctx.csrf} class="row-form">
            <label>
              User
              <input name="user" required maxlength={255} />
            </label>
            <label class="check">
              <input type="checkbox" name="owner" value="1" /> owner
            </label>
            <button type="submit">Add member</button>
          </PostForm>
        ) : null}
      </section>

      <section aria-labelledby="teams-h">
        <h2 id="teams-h">Teams</h2>
        {p.teams.length === 0 ? (
          <p class="muted">No teams.</p>
        ) : (
          <ul class="plain" id="teams">
            {p.teams.map((t) => (
              <li>
                <a href={`${base}/teams/${t.name}`}>{t.name}</a>
                {t.description ? <span class="muted"> · {t.description}</span> : null}
                {t.ldapGroup ? <span class="badge">LDAP</span> : null}
              </li>
            ))}
          </ul>
        )}
        {p.owner ? (
          <PostForm action={`${base}/teams`} csrf={p.ctx.csrf} class="row-form">
            <label>
              Team name
              <input name="name" required maxlength={255} pattern="[a-z0-9][a-z0-9._\-]*" />
            </label>
            <label>
              Description
              <input name="description" maxlength={1000} />
            </label>
            <button type="submit">Create team</button>
          </PostForm>
        ) : null}
      </section>

      {p.grants ? (
        <section aria-labelledby="grants-h">
          <h2 id="grants-h">Access to every repository of {p.org.name}</h2>
          <Grants
            ctx={p.ctx}
            grants={p.grants}
            base={`${base}/grants`}
            id="org-grants"
            empty="No organization-wide grants."
            first="team"
            teamLabel="team"
            button={`Grant on ${p.org.name}`}
          />
        </section>
      ) : null}
    </Layout>
  )
}

export const TeamPage: FC<
  { ctx: PageContext; org: string; team: TeamView; members: string[]; owner: boolean } & Flash
> = (p) => {
  const base = `/orgs/${p.org}/teams/${p.team.name}`
  return (
    <Layout ctx={p.ctx} title={`${p.org}/${p.team.name}`}>
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href="/orgs">Organizations</a> / <a href={`/orgs/${p.org}`}>{p.org}</a>
      </nav>
      <h1>Team {p.team.name}</h1>
      {p.team.description ? <p class="lead">{p.team.description}</p> : null}
      {p.team.ldapGroup ? (
        <p class="muted">
          Its members come from the directory group <code>{p.team.ldapGroup}</code> at each LDAP sync.
        </p>
      ) : null}
      <Messages notice={p.notice} error={p.error} />
      <h2>Members</h2>
      {p.members.length === 0 ? (
        <p class="muted">No members.</p>
      ) : (
        <ul class="plain" id="team-members">
          {p.members.map((m) => (
            <li data-member={m}>
              {m}
              {p.owner ? (
                <>
                  {' '}
                  <PostForm action={`${base}/members/remove`} csrf={p.ctx.csrf} class="inline">
                    <input type="hidden" name="user" value={m} />
                    <button type="submit" class="link danger-link" aria-label={`Remove ${m}`}>
                      remove
                    </button>
                  </PostForm>
                </>
              ) : null}
            </li>
          ))}
        </ul>
      )}
      {p.owner ? (
        <PostForm action={`${base}/members`} csrf={p.ctx.csrf} class="row-form">
          <label>
            User
            <input name="user" required maxlength={255} />
          </label>
          <button type="submit">Add to team</button>
        </PostForm>
      ) : null}
    </Layout>
  )
}

export const UsersPage: FC<
  { ctx: PageContext; users: AccountView[]; created?: { name: string; password: string }; now: number } & Flash
> = (p) => (
  <Layout ctx={p.ctx} title="Users">
    <h1>Users</h1>
    <Messages notice={p.notice} error={p.error} />
    {p.created ? (
      <section class="card secret" role="status" id="new-secret">
        <h2>User {p.created.name} created</h2>
        <p>
          Their first password, shown this once: <strong>hand it over privately</strong>; they change it in their
          profile.
        </p>
        <Copyable text={p.created.password} label="the password" />
      </section>
    ) : null}
    <div class="table-wrap">
      <table class="list" id="users">
        <TableHead cols={['Name', 'Source', 'Role', 'State', 'Created', { label: 'Actions', hidden: true }]} />
        <tbody>
          {p.users.map((u) => (
            <tr data-user={u.name}>
              <td>
                {u.name}
                {u.fullName ? <div class="muted small">{u.fullName}</div> : null}
              </td>
              <td>{u.source}</td>
              <td>{u.isAdmin ? <span class="badge">admin</span> : 'user'}</td>
              <td>{u.active ? 'active' : <span class="badge failure">deactivated</span>}</td>
              <td>
                <Time iso={u.createdAt} now={p.now} />
              </td>
              <td class="num">
                <PostForm action={`/users/${u.name}`} csrf={p.ctx.csrf} class="inline">
                  <input type="hidden" name="isAdmin" value={u.isAdmin ? '0' : '1'} />
                  <button type="submit" class="link">
                    {u.isAdmin ? 'Make user' : 'Make admin'}
                  </button>
                </PostForm>{' '}
                ·{' '}
                <PostForm action={`/users/${u.name}`} csrf={p.ctx.csrf} class="inline">
                  <input type="hidden" name="active" value={u.active ? '0' : '1'} />
                  <button type="submit" class={`link ${u.active ? 'danger-link' : ''}`}>
                    {u.active ? 'Deactivate' : 'Activate'}
                  </button>
                </PostForm>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
    <h2>New user</h2>
    <PostForm action="/users" csrf={p.ctx.csrf} class="row-form">
      <label>
        Username
        <input name="name" required maxlength={255} pattern="[a-z0-9][a-z0-9._\-]*" />
      </label>
      <label>
        Full name
        <input name="fullName" maxlength={255} />
      </label>
      <label>
        Email
        <input name="email" type="email" maxlength={255} />
      </label>
      <label class="check">
        <input type="checkbox" name="isAdmin" value="1" /> administrator
      </label>
      <button type="submit" class="primary">
        Create user
      </button>
    </PostForm>
    <p class="muted small">A first password is generated and shown once. Directory users sign in with LDAP.</p>
  </Layout>
)
