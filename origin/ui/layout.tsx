import { raw } from 'hono/html'
import type { Child, FC } from 'hono/jsx'
import type { Principal } from '../services/permissions.ts'
import { CSRF_FIELD } from './security.ts'

/** What every page knows: who is signed in, this browser's CSRF token, and which section is open. */
export interface PageContext {
  principal: Principal
  csrf: string
  /** The registry's host as docker references name it (`registry.example.com:5000`). */
  registryHost: string
  section?: Section
}

export type Section =
  'repositories' | 'events' | 'organizations' | 'users' | 'tokens' | 'network' | 'bandwidth' | 'settings'

/** The hidden field every state-changing form carries. */
export const Csrf: FC<{ token: string }> = ({ token }) => <input type="hidden" name={CSRF_FIELD} value={token} />

/** A POST form with its CSRF field. */
export const PostForm: FC<{ action: string; csrf: string; class?: string; children?: Child }> = (p) => (
  <form method="post" action={p.action} class={p.class}>
    <Csrf token={p.csrf} />
    {p.children}
  </form>
)

interface NavItem {
  section: Section
  href: string
  label: string
  /** Only for signed-in users / only for admins. */
  who: 'anyone' | 'user' | 'admin'
}

const NAV: NavItem[] = [
  { section: 'repositories', href: '/repositories', label: 'Repositories', who: 'anyone' },
  { section: 'events', href: '/events', label: 'Events', who: 'user' },
  { section: 'organizations', href: '/orgs', label: 'Organizations', who: 'user' },
  { section: 'tokens', href: '/tokens', label: 'Access tokens', who: 'user' },
  { section: 'network', href: '/network', label: 'Cache network', who: 'admin' },
  { section: 'bandwidth', href: '/bandwidth', label: 'Bandwidth', who: 'admin' },
  { section: 'users', href: '/users', label: 'Users', who: 'admin' },
  { section: 'settings', href: '/settings', label: 'Settings', who: 'admin' },
]

function visibleNav(p: Principal): NavItem[] {
  const user = p.kind === 'user'
  const admin = user && p.isAdmin
  return NAV.filter((n) => n.who === 'anyone' || (n.who === 'user' && user) || (n.who === 'admin' && admin))
}

/** The page frame: header with navigation and the user's menu, the content, and the scripts (all from /static). */
export const Layout: FC<{ ctx: PageContext; title: string; children?: Child }> = ({ ctx, title, children }) => {
  const p = ctx.principal
  return (
    <>
      {raw('<!DOCTYPE html>')}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <meta name="color-scheme" content="light dark" />
          {/* htmx's own inline indicator styles would break the CSP; app.css has them */}
          <meta
            name="htmx-config"
            content='{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}'
          />
          <meta name="csrf-token" content={ctx.csrf} />
          <title>{`${title} · Wharf`}</title>
          <link rel="stylesheet" href="/static/app.css" />
          <link rel="icon" href="/static/favicon.svg" type="image/svg+xml" />
          <script src="/static/htmx.min.js" defer></script>
          <script src="/static/app.js" defer></script>
        </head>
        <body>
          <a class="skip" href="#main">
            Skip to content
          </a>
          <header class="top">
            <a class="brand" href="/">
              <img src="/static/favicon.svg" alt="" width="24" height="24" />
              Wharf
            </a>
            <nav aria-label="Main">
              <ul>
                {visibleNav(p).map((n) => (
                  <li>
                    <a href={n.href} aria-current={ctx.section === n.section ? 'page' : undefined}>
                      {n.label}
                    </a>
                  </li>
                ))}
              </ul>
            </nav>
            <div class="who">
              {p.kind === 'user' ? (
                <>
                  <span class="user" title={p.isAdmin ? 'system administrator' : undefined}>
                    {p.name}
                    {p.isAdmin ? <span class="badge">admin</span> : null}
                  </span>
                  <PostForm action="/logout" csrf={ctx.csrf} class="inline">
                    <button type="submit" class="link">
                      Sign out
                    </button>
                  </PostForm>
                </>
              ) : (
                <a href="/login">Sign in</a>
              )}
            </div>
          </header>
          <main id="main" tabindex={-1}>
            {children}
          </main>
        </body>
      </html>
    </>
  )
}

/** A column of a list table: its label, right-aligned for numbers, or read by screen readers only. */
export type Column = string | { label: string; num?: boolean; hidden?: boolean }

/** The header row of a list table. */
export const TableHead: FC<{ cols: Column[] }> = ({ cols }) => (
  <thead>
    <tr>
      {cols.map((c) => {
        const col = typeof c === 'string' ? { label: c } : c
        return (
          <th scope="col" class={col.num ? 'num' : undefined}>
            {col.hidden ? <span class="sr-only">{col.label}</span> : col.label}
          </th>
        )
      })}
    </tr>
  </thead>
)

/** What a form did, or why it did not: a status line and an alert. */
export const Messages: FC<{ notice?: string | undefined; error?: string | undefined }> = ({ notice, error }) => (
  <>
    {notice ? (
      <p class="notice" role="status">
        {notice}
      </p>
    ) : null}
    {error ? (
      <p class="alert" role="alert">
        {error}
      </p>
    ) : null}
  </>
)

/** A page of its own for an error: not found, forbidden, a refused form. */
export const ErrorPage: FC<{ ctx: PageContext; status: number; title: string; message: string }> = (p) => (
  <Layout ctx={p.ctx} title={p.title}>
    <section class="error">
      <h1>{p.title}</h1>
      <p>{p.message}</p>
      <p>
        <a href="/repositories">Back to the repositories</a>
      </p>
    </section>
  </Layout>
)
