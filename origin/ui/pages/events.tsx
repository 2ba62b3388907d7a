import type { FC } from 'hono/jsx'
import type { EventView } from '../../services/audit.ts'
import { Time } from '../format.tsx'
import { Layout, type PageContext } from '../layout.tsx'

export interface EventsQuery {
  actor?: string
  action?: string
  target?: string
  since?: string
  until?: string
}

/** One line of detail: the fields people look for (tags, digest, role …), as text. */
function detailLine(e: EventView): string {
  const d = e.detail ?? {}
  const parts: string[] = []
  for (const [k, v] of Object.entries(d)) {
    if (v === null || v === undefined || v === '') continue
    const text = Array.isArray(v) ? v.join(', ') : typeof v === 'object' ? JSON.stringify(v) : String(v)
    parts.push(`${k}: ${text}`)
  }
  return parts.join(' · ').slice(0, 300)
}

const ACTIONS = [
  'push',
  'pull',
  'delete',
  'tag.move',
  'repository.create',
  'repository.update',
  'repository.delete',
  'grant.set',
  'grant.delete',
  'login',
  'logout',
  'token.create',
  'token.revoke',
  'settings.update',
]

export const EventsTimeline: FC<{ events: EventView[]; now: number; next: string | null; moreHref: string }> = (p) => (
  <div id="events">
    {p.events.length === 0 ? (
      <p class="muted">No events match.</p>
    ) : (
      <ol class="timeline">
        {p.events.map((e) => (
          <li class={e.outcome === 'failure' ? 'failure' : undefined} data-action={e.action}>
            <div class="when">
              <Time iso={e.at} now={p.now} />
            </div>
            <div class="what">
              <span class="actor">{e.actor}</span>
              {e.actorKind !== 'user' ? <span class="badge">{e.actorKind}</span> : null}{' '}
              <span class="action">{e.action}</span> <code class="target">{e.target}</code>
              {e.outcome === 'failure' ? <span class="badge failure">failed</span> : null}
              {e.detail ? <div class="muted small detail">{detailLine(e)}</div> : null}
            </div>
            <div class="from muted small">{e.address ?? ''}</div>
          </li>
        ))}
      </ol>
    )}
    {p.next ? (
      <nav class="pager" aria-label="Older events">
        <span />
        <a href={p.moreHref} rel="next">
          Older →
        </a>
      </nav>
    ) : null}
  </div>
)

export const EventsPage: FC<{
  ctx: PageContext
  title: string
  intro: string
  action: string
  q: EventsQuery
  /** Whether the actor filter is offered (admins reading everyone's events). */
  byActor: boolean
  events: EventView[]
  next: string | null
  moreHref: string
  now: number
  crumbs?: { href: string; label: string }[]
}> = (p) => (
  <Layout ctx={p.ctx} title={p.title}>
    {p.crumbs ? (
      <nav class="crumbs" aria-label="Breadcrumb">
        {p.crumbs.map((c, i) => (
          <>
            {i > 0 ? ' / ' : ''}
            <a href={c.href}>{c.label}</a>
          </>
        ))}
      </nav>
    ) : null}
    <h1>{p.title}</h1>
    <p class="muted">{p.intro}</p>
    <form method="get" action={p.action} class="filters" role="search">
      <label>
        Action
        <select name="action">
          <option value="">any</option>
          {ACTIONS.map((a) => (
            <option value={a} selected={p.q.action === a}>
              {a}
            </option>
          ))}
        </select>
      </label>
      {p.byActor ? (
        <label>
          Actor
          <input name="actor" value={p.q.actor ?? ''} maxlength={255} placeholder="anyone" />
        </label>
      ) : null}
      <label>
        Target
        <input name="target" value={p.q.target ?? ''} maxlength={1000} placeholder="name, or prefix*" />
      </label>
      <label>
        Since
        <input type="date" name="since" value={p.q.since ?? ''} />
      </label>
      <label>
        Until
        <input type="date" name="until" value={p.q.until ?? ''} />
      </label>
      <button type="submit">Filter</button>
    </form>
    <EventsTimeline events={p.events} now={p.now} next={p.next} moreHref={p.moreHref} />
  </Layout>
)
