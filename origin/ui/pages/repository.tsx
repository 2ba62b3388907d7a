import type { FC } from 'hono/jsx'
import type { GrantView } from '../../services/grants.ts'
import type { TagView } from '../../services/images.ts'
import type { RepositoryView } from '../../services/repositories.ts'
import { bytes, Copyable, Digest, Markdown, Time } from '../format.tsx'
import { Grants } from '../grants.tsx'
import { Layout, Messages, PostForm, TableHead, type PageContext } from '../layout.tsx'

export interface RepositoryPageProps {
  ctx: PageContext
  repo: RepositoryView
  tags: { items: TagView[]; total: number; offset: number; limit: number }
  /** The repository's grants, for its admins (undefined for others). */
  grants: GrantView[] | undefined
  now: number
  notice?: string
  error?: string
}

export const Platforms: FC<{ tag: TagView }> = ({ tag }) =>
  tag.platforms.length === 0 ? (
    <span class="muted">{tag.kind}</span>
  ) : (
    <ul class="platforms">
      {tag.platforms.map((p) => (
        <li>
          {p.os ?? '?'}/{p.architecture ?? '?'}
          {p.variant ? `/${p.variant}` : ''}
          {tag.kind === 'index' ? <span class="muted small"> {bytes(p.size)}</span> : null}
        </li>
      ))}
    </ul>
  )

const TagsTable: FC<RepositoryPageProps> = ({ repo, tags, now }) => {
  const canDelete = repo.actions.includes('delete')
  const base = `/repositories/${repo.name}`
  return (
    <section aria-labelledby="tags-h">
      <h2 id="tags-h">
        Tags <span class="muted">({tags.total})</span>
      </h2>
      {tags.items.length === 0 ? (
        <p class="muted">No tags yet: push one with the command above.</p>
      ) : (
        <div class="table-wrap">
          <table class="list" id="tags">
            <TableHead
              cols={[
                'Tag',
                'Digest',
                'OS/Arch',
                { label: 'Size', num: true },
                'Pushed',
                'Last pulled',
                ...(canDelete ? [{ label: 'Actions', hidden: true }] : []),
              ]}
            />
            <tbody>
              {tags.items.map((t) => (
                <tr data-tag={t.name}>
                  <td>
                    <a href={`${base}/_image/${t.name}`} class="tag">
                      {t.name}
                    </a>
                  </td>
                  <td>
                    <Digest digest={t.digest} />
                  </td>
                  <td>
                    <Platforms tag={t} />
                  </td>
                  <td class="num">
                    {t.size !== null ? bytes(t.size) : bytes(t.platforms.reduce((a, p) => a + (p.size ?? 0), 0))}
                  </td>
                  <td>
                    <Time iso={t.pushedAt} now={now} /> by <span class="who-name">{t.pushedBy}</span>
                  </td>
                  <td>
                    <Time iso={t.pulledAt} now={now} />
                  </td>
                  {canDelete ? (
                    <td>
                      <a
                        href={`${base}/_tags/${t.name}/delete`}
                        class="danger-link"
                        aria-label={`Delete tag ${t.name}`}
                      >
                        Delete
                      </a>
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {tags.total > tags.limit ? (
        <nav class="pager" aria-label="Tag pages">
          {tags.offset > 0 ? (
            <a href={`${base}?offset=${Math.max(0, tags.offset - tags.limit)}`} rel="prev">
              ← Newer
            </a>
          ) : (
            <span />
          )}
          <span>
            {tags.offset + 1}–{Math.min(tags.total, tags.offset + tags.limit)} of {tags.total}
          </span>
          {tags.offset + tags.limit < tags.total ? (
            <a href={`${base}?offset=${tags.offset + tags.limit}`} rel="next">
              Older →
            </a>
          ) : (
            <span />
          )}
        </nav>
      ) : null}
    </section>
  )
}

const Access: FC<RepositoryPageProps> = ({ ctx, repo, grants }) => {
  if (!grants) return null
  const base = `/repositories/${repo.name}`
  return (
    <section aria-labelledby="access-h">
      <h2 id="access-h">Who has access</h2>
      <p class="muted small">
        Besides these grants: the owners of {repo.namespace} and system administrators administer it
        {repo.visibility === 'public' ? ', and everyone may pull it' : ''}. Organization-wide grants are on the
        organization's page.
      </p>
      <Grants
        ctx={ctx}
        grants={grants}
        base={`${base}/_access`}
        id="grants"
        empty="No grants on this repository."
        first="user"
        teamLabel={`team of ${repo.namespace}`}
        button="Grant"
      />
    </section>
  )
}

const Settings: FC<RepositoryPageProps> = ({ ctx, repo }) => {
  if (!repo.actions.includes('delete')) return null
  return (
    <section aria-labelledby="settings-h">
      <h2 id="settings-h">Settings</h2>
      <PostForm action={`/repositories/${repo.name}/_settings`} csrf={ctx.csrf} class="stack">
        <label>
          Visibility
          <select name="visibility">
            <option value="private" selected={repo.visibility === 'private'}>
              private: only those with access
            </option>
            <option value="public" selected={repo.visibility === 'public'}>
              public: everyone may pull
            </option>
          </select>
        </label>
        <label>
          Short description
          <input name="description" value={repo.description} maxlength={10000} />
        </label>
        <label>
          Long description (Markdown)
          <textarea name="longDescription" rows={8} maxlength={100000}>
            {repo.longDescription}
          </textarea>
        </label>
        <button type="submit" class="primary">
          Save
        </button>
      </PostForm>
    </section>
  )
}

export const RepositoryPage: FC<RepositoryPageProps> = (p) => {
  const { repo, ctx } = p
  const first = p.tags.items[0]?.name ?? 'latest'
  return (
    <Layout ctx={ctx} title={repo.name}>
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href="/repositories">Repositories</a> /{' '}
        <a href={`/repositories?namespace=${repo.namespace}`}>{repo.namespace}</a>
      </nav>
      <header class="page-head">
        <h1>
          {repo.name} <span class={`badge ${repo.visibility}`}>{repo.visibility}</span>
        </h1>
        {repo.description ? <p class="lead">{repo.description}</p> : null}
        {ctx.principal.kind === 'user' ? (
          <p class="small">
            <a href={`/repositories/${repo.name}/_events`}>Events of this repository →</a>
          </p>
        ) : null}
        <Copyable text={`docker pull ${ctx.registryHost}/${repo.name}:${first}`} label="the pull command" />
      </header>
      <Messages notice={p.notice} error={p.error} />
      <TagsTable {...p} />
      {repo.longDescription ? (
        <section aria-labelledby="about-h">
          <h2 id="about-h">About</h2>
          <Markdown source={repo.longDescription} />
        </section>
      ) : null}
      <Access {...p} />
      <Settings {...p} />
    </Layout>
  )
}

export const DeleteTagPage: FC<{ ctx: PageContext; repo: RepositoryView; tag: { name: string; digest: string } }> = ({
  ctx,
  repo,
  tag,
}) => (
  <Layout ctx={ctx} title={`Delete ${repo.name}:${tag.name}`}>
    <section class="card confirm">
      <h1>
        Delete tag {repo.name}:{tag.name}?
      </h1>
      <p>
        The tag goes; the image <Digest digest={tag.digest} /> stays reachable by its digest
        {tag.name === 'latest' ? ', and `docker pull` without a tag will fail' : ''}.
      </p>
      <PostForm action={`/repositories/${repo.name}/_tags/${tag.name}/delete`} csrf={ctx.csrf} class="row-form">
        <button type="submit" class="danger">
          Delete {tag.name}
        </button>
        <a href={`/repositories/${repo.name}`}>Cancel</a>
      </PostForm>
    </section>
  </Layout>
)
