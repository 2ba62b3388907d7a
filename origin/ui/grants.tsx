import type { FC } from 'hono/jsx'
import type { GrantView } from '../services/grants.ts'
import { PostForm, type PageContext, TableHead } from './layout.tsx'

const ROLES = ['read', 'write', 'admin'] as const

/**
 * Grants on a repository or a whole namespace: a table with a remove button per grant (posting to `base`/remove)
 * and a form giving a user or team a level (posting to `base`).
 */
export const Grants: FC<{
  ctx: PageContext
  grants: GrantView[]
  /** Where the forms post: `<base>` sets a grant, `<base>/remove` removes one. */
  base: string
  id: string
  empty: string
  /** The subject kind offered first. */
  first: 'user' | 'team'
  teamLabel: string
  button: string
}> = (p) => (
  <>
    {p.grants.length === 0 ? (
      <p class="muted">{p.empty}</p>
    ) : (
      <div class="table-wrap">
        <table class="list" id={p.id}>
          <TableHead cols={['Who', 'Level', { label: 'Actions', hidden: true }]} />
          <tbody>
            {p.grants.map((g) => (
              <tr>
                <td>
                  <span class="badge">{g.subjectType}</span> {g.subject}
                </td>
                <td>{g.role}</td>
                <td class="num">
                  <PostForm action={`${p.base}/remove`} csrf={p.ctx.csrf} class="inline">
                    <input type="hidden" name="subjectType" value={g.subjectType} />
                    <input type="hidden" name="subject" value={g.subject} />
                    <button type="submit" class="link danger-link" aria-label={`Remove the grant of ${g.subject}`}>
                      Remove
                    </button>
                  </PostForm>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    )}
    <PostForm action={p.base} csrf={p.ctx.csrf} class="row-form">
      <label>
        Kind
        <select name="subjectType">
          {p.first === 'user' ? <option value="user">user</option> : null}
          <option value="team">{p.teamLabel}</option>
          {p.first === 'team' ? <option value="user">user</option> : null}
        </select>
      </label>
      <label>
        Who
        <input name="subject" required maxlength={255} />
      </label>
      <label>
        Level
        <select name="role">
          {ROLES.map((r) => (
            <option value={r}>{r}</option>
          ))}
        </select>
      </label>
      <button type="submit">{p.button}</button>
    </PostForm>
  </>
)
