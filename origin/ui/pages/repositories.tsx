import type { FC } from 'hono/jsx'
import type { RepositorySearch, SearchResult } from '../../services/images.ts'
import { bytes, Time } from '../format.tsx'
import { Layout, type PageContext, TableHead } from '../layout.tsx'

export interface RepositoriesQuery extends RepositorySearch {
  /** The query string without `page`, for the pager's links. */
  base: string
}

const Visibility: FC<{ v: 'public' | 'private' }> = ({ v }) => <span class={`badge ${v}`}>{v}</span>

/** The table and pager: what htmx swaps when a filter changes. */
export const RepositoryResults: FC<{ ctx: PageContext; q: RepositoriesQuery; result: SearchResult; now: number }> = ({
  q,
  result,
  now,
}) => (
  <div id="results">
    <p class="muted" aria-live="polite">
      {result.total === 0
        ? 'No repositories match.'
        : `${result.total} ${result.total === 1 ? 'repository' : 'repositories'}`}
    </p>
    {result.items.length > 0 ? (
      <div class="table-wrap">
        <table class="list">
          <TableHead
            cols={['Name', 'Visibility', { label: 'Tags', num: true }, { label: 'Size', num: true }, 'Last pushed']}
          />
          <tbody>
            {result.items.map((r) => (
              <tr>
                <td>
                  <a href={`/repositories/${r.name}`} class="repo-name">
                    {r.name}
                  </a>
                  {r.description ? <div class="muted small">{r.description}</div> : null}
                </td>
                <td>
                  <Visibility v={r.visibility} />
                </td>
                <td class="num">{r.tagCount}</td>
                <td class="num">{bytes(r.size)}</td>
                <td>
                  {r.pushedAt ? (
                    <>
                      <Time iso={r.pushedAt} now={now} /> by <span class="who-name">{r.pushedBy}</span>
                    </>
                  ) : (
                    <span class="muted">nothing pushed yet</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    ) : null}
    {result.pages > 1 ? (
      <nav class="pager" aria-label="Pages">
        {result.page > 1 ? (
          <a href={`/repositories?${q.base}${q.base ? '&' : ''}page=${result.page - 1}`} rel="prev">
            ← Previous
          </a>
        ) : (
          <span />
        )}
        <span>
          Page {result.page} of {result.pages}
        </span>
        {result.page < result.pages ? (
          <a href={`/repositories?${q.base}${q.base ? '&' : ''}page=${result.page + 1}`} rel="next">
            Next →
          </a>
        ) : (
          <span />
        )}
      </nav>
    ) : null}
  </div>
)

export const RepositoriesPage: FC<{ ctx: PageContext; q: RepositoriesQuery; result: SearchResult; now: number }> = (
  p,
) => {
  const signedIn = p.ctx.principal.kind === 'user'
  return (
    <Layout ctx={p.ctx} title="Repositories">
      <h1>Repositories</h1>
      <form
        method="get"
        action="/repositories"
        class="filters"
        role="search"
        hx-get="/repositories"
        hx-target="#results"
        hx-select="#results"
        hx-swap="outerHTML"
        hx-push-url="true"
        hx-trigger="input changed delay:300ms from:find input[type=search], change"
      >
        <label>
          Search
          <input type="search" name="q" value={p.q.search ?? ''} placeholder="name contains…" maxlength={255} />
        </label>
        <label>
          Namespace
          <input name="namespace" value={p.q.namespace ?? ''} placeholder="any" maxlength={255} />
        </label>
        <label>
          Visibility
          <select name="visibility">
            <option value="" selected={!p.q.visibility}>
              any
            </option>
            <option value="public" selected={p.q.visibility === 'public'}>
              public
            </option>
            <option value="private" selected={p.q.visibility === 'private'}>
              private
            </option>
          </select>
        </label>
        <label>
          Sort
          <select name="sort">
            <option value="name" selected={p.q.sort === 'name'}>
              by name
            </option>
            <option value="pushed" selected={p.q.sort === 'pushed'}>
              last pushed first
            </option>
          </select>
        </label>
        {signedIn ? (
          <label class="check">
            <input type="checkbox" name="mine" value="1" checked={p.q.mine === true} /> Mine only
          </label>
        ) : null}
        <noscript>
          <button type="submit">Filter</button>
        </noscript>
      </form>
      <RepositoryResults {...p} />
    </Layout>
  )
}
