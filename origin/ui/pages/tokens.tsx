import type { FC } from 'hono/jsx'
import type { TokenView } from '../../services/personal-tokens.ts'
import type { RobotView } from '../../services/robots.ts'
import { Copyable, Time } from '../format.tsx'
import { Layout, Messages, PostForm, type PageContext, TableHead } from '../layout.tsx'

/** A secret just made: shown this once, with how to use it. */
export interface NewSecret {
  kind: 'token' | 'robot'
  /** The token's name, or the robot's login name. */
  name: string
  login: string
  secret: string
}

export interface TokensPageProps {
  ctx: PageContext
  user: string
  tokens: TokenView[]
  /** The namespaces whose robots the user manages, each with its robots. */
  robots: { namespace: string; robots: RobotView[] }[]
  created?: NewSecret
  notice?: string
  error?: string
  now: number
}

const EXPIRY = [
  { value: '', label: 'never' },
  { value: '30', label: 'in 30 days' },
  { value: '90', label: 'in 90 days' },
  { value: '365', label: 'in a year' },
]

function state(t: TokenView): string {
  if (t.revokedAt) return 'revoked'
  return t.active ? 'active' : 'expired'
}

const Created: FC<{ created: NewSecret; registryHost: string }> = ({ created, registryHost }) => (
  <section class="card secret" role="status" id="new-secret">
    <h2>{created.kind === 'token' ? `Token ${created.name} created` : `Robot ${created.name} created`}</h2>
    <p>
      Copy the secret now: <strong>it is not shown again</strong> (only its hash is kept).
    </p>
    <Copyable text={created.secret} label="the secret" />
    <p class="muted small">Use it as the password, for example:</p>
    <Copyable
      text={`docker login ${registryHost} --username '${created.login}' --password-stdin`}
      label="the docker login command"
    />
  </section>
)

export const TokensPage: FC<TokensPageProps> = (p) => (
  <Layout ctx={p.ctx} title="Access tokens">
    <h1>Access tokens and robots</h1>
    <Messages notice={p.notice} error={p.error} />
    {p.created ? <Created created={p.created} registryHost={p.ctx.registryHost} /> : null}
    <section aria-labelledby="pat-h">
      <h2 id="pat-h">Personal access tokens</h2>
      <p class="muted">
        Passwords for scripts and registry clients (<code>docker login</code>, basic auth on the API). A token acts with
        your permissions at the time it is used; revoke it when it is no longer needed.
      </p>
      {p.tokens.length === 0 ? (
        <p class="muted">You have no tokens.</p>
      ) : (
        <div class="table-wrap">
          <table class="list" id="tokens">
            <TableHead
              cols={['Name', 'State', 'Created', 'Last used', 'Expires', { label: 'Actions', hidden: true }]}
            />
            <tbody>
              {p.tokens.map((t) => (
                <tr data-token={t.name}>
                  <td>{t.name}</td>
                  <td>
                    <span class={`badge ${state(t) === 'active' ? 'public' : ''}`}>{state(t)}</span>
                  </td>
                  <td>
                    <Time iso={t.createdAt} now={p.now} />
                  </td>
                  <td>
                    <Time iso={t.lastUsedAt} now={p.now} />
                  </td>
                  <td>{t.expiresAt ? <Time iso={t.expiresAt} now={p.now} /> : <span class="muted">never</span>}</td>
                  <td>
                    {t.active ? (
                      <PostForm action={`/tokens/${t.id}/revoke`} csrf={p.ctx.csrf} class="inline">
                        <button type="submit" class="link danger-link" aria-label={`Revoke ${t.name}`}>
                          Revoke
                        </button>
                      </PostForm>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <PostForm action="/tokens" csrf={p.ctx.csrf} class="row-form">
        <label>
          Token name
          <input name="name" required maxlength={100} placeholder="ci on build-01" />
        </label>
        <label>
          Expires
          <select name="expiresInDays">
            {EXPIRY.map((e) => (
              <option value={e.value}>{e.label}</option>
            ))}
          </select>
        </label>
        <button type="submit" class="primary">
          Create token
        </button>
      </PostForm>
    </section>

    {p.robots.map((ns) => (
      <section aria-labelledby={`robots-${ns.namespace}`}>
        <h2 id={`robots-${ns.namespace}`}>Robot accounts of {ns.namespace}</h2>
        <p class="muted">Logins for machines, limited to the repositories and actions listed, whoever created them.</p>
        {ns.robots.length === 0 ? (
          <p class="muted">No robots.</p>
        ) : (
          <div class="table-wrap">
            <table class="list robots">
              <TableHead cols={['Login', 'May', 'Last used', 'Expires', { label: 'Actions', hidden: true }]} />
              <tbody>
                {ns.robots.map((r) => (
                  <tr>
                    <td>
                      <code>{r.name}</code>
                      {r.description ? <div class="muted small">{r.description}</div> : null}
                    </td>
                    <td>
                      {r.permissions.map((perm) => (
                        <div>
                          <code>{perm.repository}</code> {perm.actions.join(', ')}
                        </div>
                      ))}
                    </td>
                    <td>
                      <Time iso={r.lastUsedAt} now={p.now} />
                    </td>
                    <td>{r.expiresAt ? <Time iso={r.expiresAt} now={p.now} /> : <span class="muted">never</span>}</td>
                    <td>
                      <PostForm
                        action={`/tokens/robots/${ns.namespace}/${r.name.split('+').slice(1).join('+')}/delete`}
                        csrf={p.ctx.csrf}
                        class="inline"
                      >
                        <button type="submit" class="link danger-link" aria-label={`Delete ${r.name}`}>
                          Delete
                        </button>
                      </PostForm>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <PostForm action={`/tokens/robots/${ns.namespace}`} csrf={p.ctx.csrf} class="row-form">
          <label>
            Robot name
            <input name="name" required maxlength={100} placeholder="deployer" />
          </label>
          <label>
            Repositories
            <input name="repository" required maxlength={255} value={`${ns.namespace}/*`} />
          </label>
          <label class="check">
            <input type="checkbox" name="pull" value="1" checked /> pull
          </label>
          <label class="check">
            <input type="checkbox" name="push" value="1" /> push
          </label>
          <label>
            Expires
            <select name="expiresInDays">
              {EXPIRY.map((e) => (
                <option value={e.value}>{e.label}</option>
              ))}
            </select>
          </label>
          <button type="submit">Create robot</button>
        </PostForm>
      </section>
    ))}
  </Layout>
)
