import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { Hono, type Context } from 'hono'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import type { JSX } from 'hono/jsx/jsx-runtime'
import { ApiError } from '../../lib/api-error.ts'
import type { OriginDeps } from '../deps.ts'
import { SESSION_COOKIE } from '../http/api-auth.ts'
import { clientAddress } from '../http/client-address.ts'
import type { ApiServices } from '../routes/api/services.ts'
import type { GrantView } from '../services/grants.ts'
import type { Caller } from '../services/permissions.ts'
import type { BandwidthRequest } from '../services/cache-network.ts'
import { actorOf } from '../services/events.ts'
import type { LdapTestResult } from '../services/ldap.ts'
import { LDAP_STRING_FIELDS, parseLdapSettings, publicLdapSettings } from '../services/ldap-settings.ts'
import type { EventFilter } from '../storage/events-store.ts'
import type { UiEnv } from './env.ts'
import { ErrorPage, type PageContext, type Section } from './layout.tsx'
import { EventsPage, type EventsQuery } from './pages/events.tsx'
import { BandwidthPage, type BandwidthForm } from './pages/bandwidth.tsx'
import { ImagePage } from './pages/image.tsx'
import { NetworkPage, SitePage, type NewJoinToken } from './pages/network.tsx'
import { SettingsPage } from './pages/settings.tsx'
import { OrgPage, OrgsPage, TeamPage, UsersPage, type Flash } from './pages/people.tsx'
import { TokensPage, type TokensPageProps } from './pages/tokens.tsx'
import { LoginPage } from './pages/login.tsx'
import { RepositoriesPage, RepositoryResults, type RepositoriesQuery } from './pages/repositories.tsx'
import { DeleteTagPage, RepositoryPage } from './pages/repository.tsx'
import { CSRF_COOKIE, csrfValid, newCsrfToken, setSecurityHeaders, startSession } from './security.ts'

/** A repository name in a path, as /api/v0 reads it (components that start with a letter or digit). */
const NAME = ':name{[a-z0-9][a-z0-9._-]*(?:/[a-z0-9][a-z0-9._-]*)*}'
const TAGS_PER_PAGE = 50
const REPOSITORIES_PER_PAGE = 25
const ROLES = new Set(['read', 'write', 'admin'])

interface Asset {
  body: Buffer
  type: string
  etag: string
}

function asset(path: string, type: string): Asset {
  const body = readFileSync(path)
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` }
}

/** The files pages load, read once at start-up: htmx from its package, the rest from ./assets. */
function loadAssets(): Map<string, Asset> {
  const require = createRequire(import.meta.url)
  const here = (f: string) => fileURLToPath(new URL(`./assets/${f}`, import.meta.url))
  return new Map([
    ['htmx.min.js', asset(require.resolve('htmx.org/dist/htmx.min.js'), 'text/javascript; charset=utf-8')],
    ['app.js', asset(here('app.js'), 'text/javascript; charset=utf-8')],
    ['app.css', asset(here('app.css'), 'text/css; charset=utf-8')],
    ['favicon.svg', asset(here('favicon.svg'), 'image/svg+xml')],
    ['charts.js', asset(here('charts.js'), 'text/javascript; charset=utf-8')],
    ['uPlot.iife.min.js', asset(require.resolve('uplot/dist/uPlot.iife.min.js'), 'text/javascript; charset=utf-8')],
    ['uPlot.min.css', asset(require.resolve('uplot/dist/uPlot.min.css'), 'text/css; charset=utf-8')],
  ])
}

/**
 * The web UI, served by the origin: server-rendered pages (hono's JSX, which escapes every value) over the same
 * services as /api/v0, so no rule exists twice. Pages read without JavaScript; htmx (from its npm package, under
 * /static) only makes filters update in place. Signed in by the session cookie /api/v0/login also sets; every
 * POST carries the CSRF token of its form; the Content-Security-Policy allows no inline script or style.
 */
export function uiRoutes(deps: OriginDeps, services: ApiServices): Hono<UiEnv> {
  const app = new Hono<UiEnv>()
  const assets = loadAssets()
  const secure = deps.config.publicUrl.protocol === 'https:'
  const registryHost = deps.config.publicUrl.host
  const sessionCookie = { path: '/', httpOnly: true, sameSite: 'Strict', secure } as const
  const { images, repositories, grants, sessions, audit, accounts, tokens, robots, orgs, settings, network } = services

  app.get('/static/:file', (c) => {
    setSecurityHeaders(c)
    const a = assets.get(param(c, 'file'))
    if (!a) return c.text('not found', 404)
    c.header('Cache-Control', 'public, max-age=300, must-revalidate')
    c.header('ETag', a.etag)
    if (c.req.header('if-none-match') === a.etag) return c.body(null, 304)
    c.header('Content-Type', a.type)
    return c.body(new Uint8Array(a.body))
  })

  const ctxOf = (c: Context<UiEnv>, section?: Section): PageContext => ({
    principal: c.get('principal'),
    csrf: c.get('csrf'),
    registryHost,
    ...(section ? { section } : {}),
  })
  const callerOf = (c: Context<UiEnv>): Caller => ({
    principal: c.get('principal'),
    via: c.get('via'),
    address: clientAddress(c),
  })
  /**
   * Every UI route's handler goes through here, so none can miss what a page needs: the security headers, the
   * session and this browser's CSRF token, and for a POST the token checked before anything runs. A refusal of
   * the services (not found, forbidden …) becomes a page saying so.
   */
  const render =
    (
      section: Section | undefined,
      handler: (c: Context<UiEnv>) => Promise<Response | JSX.Element> | Response | JSX.Element,
    ) =>
    async (c: Context<UiEnv>) => {
      setSecurityHeaders(c)
      c.set('publicOrigin', deps.config.publicUrl.origin)
      startSession(c, { auth: deps.identity.auth, secure })
      if (c.req.method === 'POST' && !(await csrfValid(c))) {
        c.status(403)
        return c.html(
          <ErrorPage
            ctx={ctxOf(c)}
            status={403}
            title="This form has expired"
            message="The form was not sent from one of this registry's own pages (or was opened before you signed in). Go back, reload the page and try again."
          />,
        )
      }
      try {
        const out = await handler(c)
        return out instanceof Response ? out : c.html(out)
      } catch (err) {
        if (!(err instanceof ApiError)) throw err
        if (err.status === 401 && c.req.method === 'GET')
          return c.redirect(`/login?next=${encodeURIComponent(pathOf(c))}`)
        c.status(err.status as 400)
        const title = err.status === 404 ? 'Not found' : err.status === 403 ? 'Not allowed' : 'That did not work'
        return c.html(<ErrorPage ctx={ctxOf(c, section)} status={err.status} title={title} message={err.message} />)
      }
    }

  app.get(
    '/',
    render(undefined, (c) => c.redirect(c.get('principal').kind === 'user' ? '/repositories' : '/login')),
  )

  app.get(
    '/login',
    render(undefined, (c) => {
      const next = safeNext(c.req.query('next'))
      if (c.get('principal').kind === 'user') return c.redirect(next)
      return <LoginPage ctx={ctxOf(c)} next={next} />
    }),
  )

  app.post(
    '/login',
    render(undefined, async (c) => {
      const form = await c.req.parseBody()
      const username = typeof form.username === 'string' ? form.username.slice(0, 200) : ''
      const password = typeof form.password === 'string' ? form.password.slice(0, 1024) : ''
      const next = safeNext(typeof form.next === 'string' ? form.next : undefined)
      try {
        const started = await sessions.start(username, password, clientAddress(c))
        setCookie(c, SESSION_COOKIE, started.cookie, {
          ...sessionCookie,
          maxAge: Math.floor(deps.config.sessionTtlMs / 1000),
        })
        // a new token for the signed-in browser: one picked up before signing in is worth nothing after
        setCookie(c, CSRF_COOKIE, newCsrfToken(), sessionCookie)
        return c.redirect(next, 303)
      } catch (err) {
        if (!(err instanceof ApiError)) throw err
        const message =
          err.status === 429
            ? `Too many failed sign-ins: ${err.message}. Wait a moment before trying again.`
            : err.status === 401
              ? 'Wrong username or password.'
              : err.message
        c.status(err.status as 401)
        return <LoginPage ctx={ctxOf(c)} next={next} username={username} error={message} />
      }
    }),
  )

  app.post(
    '/logout',
    render(undefined, (c) => {
      sessions.end(callerOf(c), getCookie(c, SESSION_COOKIE))
      deleteCookie(c, SESSION_COOKIE, sessionCookie)
      setCookie(c, CSRF_COOKIE, newCsrfToken(), sessionCookie)
      return c.redirect('/login', 303)
    }),
  )

  app.get(
    '/repositories',
    render('repositories', (c) => {
      const q = repositoriesQuery(c)
      const result = images.search(callerOf(c), q)
      const props = { ctx: ctxOf(c, 'repositories'), q, result, now: deps.now() }
      // htmx asks for the results only when a filter changes
      if (c.req.header('hx-request') === 'true' && c.req.header('hx-target') === 'results')
        return <RepositoryResults {...props} />
      return <RepositoriesPage {...props} />
    }),
  )

  const repositoryPage = async (c: Context<UiEnv>, extra: { notice?: string; error?: string } = {}) => {
    const name = param(c, 'name') ?? ''
    const caller = callerOf(c)
    const repo = repositories.get(caller, name)
    const offset = Math.max(0, Number.parseInt(c.req.query('offset') ?? '0', 10) || 0)
    const tags = await images.tags(caller, name, offset, TAGS_PER_PAGE)
    let list: GrantView[] | undefined
    if (repo.actions.includes('delete')) list = grants.list(caller, 'repository', name, '', 500).items
    return (
      <RepositoryPage
        ctx={ctxOf(c, 'repositories')}
        repo={repo}
        tags={{ ...tags, offset, limit: TAGS_PER_PAGE }}
        grants={list}
        now={deps.now()}
        {...extra}
      />
    )
  }

  app.get(
    `/repositories/${NAME}/_image/:reference`,
    render('repositories', async (c) => {
      const reference = param(c, 'reference')
      const image = await images.image(callerOf(c), param(c, 'name'), reference)
      return <ImagePage ctx={ctxOf(c, 'repositories')} image={image} reference={reference} now={deps.now()} />
    }),
  )

  app.get(
    `/repositories/${NAME}/_tags/:tag/delete`,
    render('repositories', async (c) => {
      const caller = callerOf(c)
      const name = param(c, 'name')
      const repo = repositories.get(caller, name)
      if (!repo.actions.includes('delete')) throw new ApiError('FORBIDDEN', `you may not delete tags of ${name}`)
      const image = await images.image(caller, name, param(c, 'tag'))
      const tag = { name: param(c, 'tag'), digest: image.digest }
      return <DeleteTagPage ctx={ctxOf(c, 'repositories')} repo={repo} tag={tag} />
    }),
  )

  app.post(
    `/repositories/${NAME}/_tags/:tag/delete`,
    render('repositories', async (c) => {
      images.deleteTag(callerOf(c), param(c, 'name'), param(c, 'tag'))
      return repositoryPage(c, { notice: `Tag ${param(c, 'tag')} deleted.` })
    }),
  )

  app.post(
    `/repositories/${NAME}/_access`,
    render('repositories', async (c) => {
      const form = await c.req.parseBody()
      const subjectType = form.subjectType === 'team' ? 'team' : 'user'
      const subject = typeof form.subject === 'string' ? form.subject.trim() : ''
      const role = typeof form.role === 'string' && ROLES.has(form.role) ? (form.role as 'read') : undefined
      if (!subject || !role) throw new ApiError('BAD_REQUEST', 'say who (a user or team name) and which level')
      try {
        grants.set(callerOf(c), 'repository', param(c, 'name'), subjectType, subject, role)
      } catch (err) {
        if (!(err instanceof ApiError) || err.status === 403 || err.status === 401) throw err
        return repositoryPage(c, { error: err.message })
      }
      return repositoryPage(c, { notice: `${subjectType} ${subject} now has ${role} access.` })
    }),
  )

  app.post(
    `/repositories/${NAME}/_access/remove`,
    render('repositories', async (c) => {
      const form = await c.req.parseBody()
      const subjectType = form.subjectType === 'team' ? 'team' : 'user'
      const subject = typeof form.subject === 'string' ? form.subject : ''
      grants.delete(callerOf(c), 'repository', param(c, 'name'), subjectType, subject)
      return repositoryPage(c, { notice: `${subjectType} ${subject} no longer has a grant here.` })
    }),
  )

  app.post(
    `/repositories/${NAME}/_settings`,
    render('repositories', async (c) => {
      const form = await c.req.parseBody()
      const visibility = form.visibility === 'public' ? 'public' : form.visibility === 'private' ? 'private' : undefined
      const text = (v: unknown, max: number) =>
        typeof v === 'string' ? v.replace(/\r\n/g, '\n').slice(0, max) : undefined
      repositories.update(callerOf(c), param(c, 'name'), {
        ...(visibility ? { visibility } : {}),
        ...(text(form.description, 10_000) !== undefined ? { description: text(form.description, 10_000)! } : {}),
        ...(text(form.longDescription, 100_000) !== undefined
          ? { longDescription: text(form.longDescription, 100_000)! }
          : {}),
      })
      return repositoryPage(c, { notice: 'Saved.' })
    }),
  )

  const eventsOf = (c: Context<UiEnv>, path: string) => {
    const { q, filter } = eventsQuery(c)
    return { q, filter, more: (next: string) => `${path}?${new URLSearchParams({ ...clean(q), before: next })}` }
  }

  app.get(
    '/events',
    render('events', (c) => {
      const caller = callerOf(c)
      const p = c.get('principal')
      if (p.kind !== 'user') throw new ApiError('UNAUTHORIZED', 'sign in to read events')
      const { q, filter, more } = eventsOf(c, '/events')
      if (!p.isAdmin) delete filter.actor
      const page = audit.list(caller, filter)
      return (
        <EventsPage
          ctx={ctxOf(c, 'events')}
          title={p.isAdmin ? 'Events' : 'Your activity'}
          intro={
            p.isAdmin
              ? 'Everything recorded: sign-ins, tokens, grants, settings, pushes, pulls and deletes.'
              : 'What you did: sign-ins, tokens, pushes, pulls and changes. Administrators see everyone’s.'
          }
          action="/events"
          q={q}
          byActor={p.isAdmin}
          events={page.items}
          next={page.next}
          moreHref={page.next ? more(page.next) : ''}
          now={deps.now()}
        />
      )
    }),
  )

  app.get(
    `/repositories/${NAME}/_events`,
    render('repositories', (c) => {
      const name = param(c, 'name')
      const { q, filter, more } = eventsOf(c, `/repositories/${name}/_events`)
      const page = audit.repository(callerOf(c), name, filter)
      return (
        <EventsPage
          ctx={ctxOf(c, 'repositories')}
          title={`Events of ${name}`}
          intro="Pushes, pulls, deletes, tag moves, and changes to its settings and access, newest first."
          action={`/repositories/${name}/_events`}
          q={q}
          byActor={true}
          events={page.items}
          next={page.next}
          moreHref={page.next ? more(page.next) : ''}
          now={deps.now()}
          crumbs={[
            { href: '/repositories', label: 'Repositories' },
            { href: `/repositories/${name}`, label: name },
          ]}
        />
      )
    }),
  )

  const tokensPage = (
    c: Context<UiEnv>,
    extra: Partial<Pick<TokensPageProps, 'created' | 'notice' | 'error'>> = {},
  ) => {
    const caller = callerOf(c)
    const me = accounts.me(caller)
    if (me.kind !== 'user') throw new ApiError('UNAUTHORIZED', 'sign in to manage your tokens')
    const namespaces = [me.name, ...me.orgs.filter((o) => o.isOwner).map((o) => o.name)]
    const robotLists = namespaces.map((namespace) => ({
      namespace,
      robots: robots.list(caller, namespace, '', 500).items,
    }))
    return (
      <TokensPage
        ctx={ctxOf(c, 'tokens')}
        user={me.name}
        tokens={tokens.list(caller, me.name, '', 500).items.reverse()}
        robots={robotLists}
        now={deps.now()}
        {...extra}
      />
    )
  }
  /** A form's expiry choice (days from now), as epoch ms; null for never. */
  const expiry = (v: unknown): number | null => {
    const days = typeof v === 'string' && /^\d{1,4}$/.test(v) ? Number(v) : 0
    return days > 0 ? deps.now() + days * DAY_MS : null
  }
  /** Runs a form's change; a refusal the user can fix is shown on the page rather than as an error page. */
  const attempt = async (
    c: Context<UiEnv>,
    change: () => Promise<Partial<Pick<TokensPageProps, 'created' | 'notice'>>>,
  ) => {
    try {
      return tokensPage(c, await change())
    } catch (err) {
      if (!(err instanceof ApiError) || err.status === 401 || err.status === 404) throw err
      c.status(err.status as 400)
      return tokensPage(c, { error: err.message })
    }
  }

  app.get(
    '/tokens',
    render('tokens', (c) => tokensPage(c)),
  )

  app.post(
    '/tokens',
    render('tokens', (c) =>
      attempt(c, async () => {
        const form = await c.req.parseBody()
        const name = typeof form.name === 'string' ? form.name.trim().slice(0, 100) : ''
        if (!name) throw new ApiError('BAD_REQUEST', 'give the token a name')
        const user = c.get('principal')
        if (user.kind !== 'user') throw new ApiError('UNAUTHORIZED', 'sign in to manage your tokens')
        const made = tokens.create(callerOf(c), user.name, { name, expiresAt: expiry(form.expiresInDays) })
        return { created: { kind: 'token', name, login: user.name, secret: made.secret } }
      }),
    ),
  )

  app.post(
    '/tokens/:id/revoke',
    render('tokens', (c) =>
      attempt(c, async () => {
        const user = c.get('principal')
        if (user.kind !== 'user') throw new ApiError('UNAUTHORIZED', 'sign in to manage your tokens')
        tokens.revoke(callerOf(c), user.name, param(c, 'id'))
        return { notice: 'Token revoked: it no longer signs anything in.' }
      }),
    ),
  )

  app.post(
    '/tokens/robots/:namespace',
    render('tokens', (c) =>
      attempt(c, async () => {
        const form = await c.req.parseBody()
        const name = typeof form.name === 'string' ? form.name.trim() : ''
        const repository = typeof form.repository === 'string' ? form.repository.trim() : ''
        const actions = [form.pull === '1' ? 'pull' : '', form.push === '1' ? 'push' : ''].filter(Boolean)
        if (actions.length === 0) throw new ApiError('BAD_REQUEST', 'a robot needs pull, push or both')
        const made = robots.create(callerOf(c), param(c, 'namespace'), {
          name,
          permissions: [{ repository, actions }],
          expiresAt: expiry(form.expiresInDays),
        })
        return { created: { kind: 'robot', name: made.robot.name, login: made.robot.name, secret: made.secret } }
      }),
    ),
  )

  app.post(
    '/tokens/robots/:namespace/:name/delete',
    render('tokens', (c) =>
      attempt(c, async () => {
        robots.delete(callerOf(c), param(c, 'namespace'), param(c, 'name'))
        return { notice: `Robot ${param(c, 'name')} deleted.` }
      }),
    ),
  )

  const permissions = deps.identity.permissions
  const formText = (v: unknown, max = 255) => (typeof v === 'string' ? v.trim().slice(0, max) : '')
  /** Runs a form's change and shows the page again with what happened, or with why it did not. */
  const flash = (
    section: Section,
    show: (c: Context<UiEnv>, f: Flash) => Promise<JSX.Element> | JSX.Element,
    change: (c: Context<UiEnv>, form: Record<string, unknown>) => Promise<string> | string,
  ) =>
    render(section, async (c) => {
      const form = (await c.req.parseBody()) as Record<string, unknown>
      let notice: string
      try {
        notice = await change(c, form)
      } catch (err) {
        if (err instanceof FormError) {
          c.status(400)
          return show(c, { error: err.message, ...err.extra })
        }
        if (!(err instanceof ApiError) || err.status === 401 || err.status === 404) throw err
        c.status(err.status as 400)
        return show(c, { error: err.message })
      }
      return show(c, { notice })
    })

  const orgsPage = (c: Context<UiEnv>, f: Flash = {}) => {
    const p = c.get('principal')
    if (p.kind !== 'user') throw new ApiError('UNAUTHORIZED', 'sign in to see organizations')
    const me = accounts.me(callerOf(c))
    const all = accounts.list(callerOf(c), 'org', '', 500).items
    const mine = new Set(me.kind === 'user' ? me.orgs.map((o) => o.name) : [])
    const orgs = p.isAdmin ? all : all.filter((o) => mine.has(o.name))
    return <OrgsPage ctx={ctxOf(c, 'organizations')} orgs={orgs} canCreate={p.isAdmin} now={deps.now()} {...f} />
  }
  const orgPage = (c: Context<UiEnv>, f: Flash = {}) => {
    const caller = callerOf(c)
    const name = param(c, 'org')
    const org = accounts.get(caller, name)
    if (org.kind !== 'org') throw new ApiError('NOT_FOUND', `no organization named "${name}"`)
    const owner = permissions.ownsNamespace(caller.principal, name)
    return (
      <OrgPage
        ctx={ctxOf(c, 'organizations')}
        org={org}
        members={orgs.members(caller, name, '', 500).items}
        teams={orgs.teams(caller, name, '', 500).items}
        grants={owner ? grants.list(caller, 'namespace', name, '', 500).items : undefined}
        owner={owner}
        {...f}
      />
    )
  }
  const teamPage = (c: Context<UiEnv>, f: Flash = {}) => {
    const caller = callerOf(c)
    const org = param(c, 'org')
    const team = orgs.team(caller, org, param(c, 'team'))
    return (
      <TeamPage
        ctx={ctxOf(c, 'organizations')}
        org={org}
        team={team}
        members={orgs.teamMembers(caller, org, team.name, '', 500).items}
        owner={permissions.ownsNamespace(caller.principal, org)}
        {...f}
      />
    )
  }

  app.get(
    '/orgs',
    render('organizations', (c) => orgsPage(c)),
  )
  app.post(
    '/orgs',
    flash('organizations', orgsPage, async (c, form) => {
      const name = formText(form.name)
      const fullName = formText(form.fullName)
      await accounts.create(callerOf(c), { name, kind: 'org', ...(fullName ? { fullName } : {}) })
      return `Organization ${name} created.`
    }),
  )
  app.get(
    '/orgs/:org',
    render('organizations', (c) => orgPage(c)),
  )
  app.post(
    '/orgs/:org/members',
    flash('organizations', orgPage, (c, form) => {
      const user = formText(form.user)
      const owner = form.owner === '1'
      orgs.setMember(callerOf(c), param(c, 'org'), user, owner)
      return `${user} is ${owner ? 'an owner' : 'a member'} of ${param(c, 'org')}.`
    }),
  )
  app.post(
    '/orgs/:org/members/remove',
    flash('organizations', orgPage, (c, form) => {
      const user = formText(form.user)
      orgs.removeMember(callerOf(c), param(c, 'org'), user)
      return `${user} is no longer a member of ${param(c, 'org')}.`
    }),
  )
  app.post(
    '/orgs/:org/teams',
    flash('organizations', orgPage, (c, form) => {
      const name = formText(form.name)
      const description = formText(form.description, 1000)
      orgs.createTeam(callerOf(c), param(c, 'org'), name, description ? { description } : {})
      return `Team ${name} created.`
    }),
  )
  app.post(
    '/orgs/:org/grants',
    flash('organizations', orgPage, (c, form) => {
      const subjectType = form.subjectType === 'user' ? 'user' : 'team'
      const subject = formText(form.subject)
      const role = typeof form.role === 'string' && ROLES.has(form.role) ? (form.role as 'read') : undefined
      if (!subject || !role) throw new ApiError('BAD_REQUEST', 'say who (a team or user name) and which level')
      grants.set(callerOf(c), 'namespace', param(c, 'org'), subjectType, subject, role)
      return `${subjectType} ${subject} now has ${role} access to every repository of ${param(c, 'org')}.`
    }),
  )
  app.post(
    '/orgs/:org/grants/remove',
    flash('organizations', orgPage, (c, form) => {
      const subjectType = form.subjectType === 'user' ? 'user' : 'team'
      const subject = formText(form.subject)
      grants.delete(callerOf(c), 'namespace', param(c, 'org'), subjectType, subject)
      return `${subjectType} ${subject} no longer has a grant on ${param(c, 'org')}.`
    }),
  )
  app.get(
    '/orgs/:org/teams/:team',
    render('organizations', (c) => teamPage(c)),
  )
  app.post(
    '/orgs/:org/teams/:team/members',
    flash('organizations', teamPage, (c, form) => {
      const user = formText(form.user)
      orgs.addTeamMember(callerOf(c), param(c, 'org'), param(c, 'team'), user)
      return `${user} added to ${param(c, 'team')}.`
    }),
  )
  app.post(
    '/orgs/:org/teams/:team/members/remove',
    flash('organizations', teamPage, (c, form) => {
      const user = formText(form.user)
      orgs.removeTeamMember(callerOf(c), param(c, 'org'), param(c, 'team'), user)
      return `${user} removed from ${param(c, 'team')}.`
    }),
  )

  const usersPage = (c: Context<UiEnv>, f: Flash & { created?: { name: string; password: string } } = {}) => {
    const p = c.get('principal')
    if (p.kind !== 'user') throw new ApiError('UNAUTHORIZED', 'sign in first')
    if (!p.isAdmin) throw new ApiError('FORBIDDEN', 'only system administrators manage users')
    return (
      <UsersPage
        ctx={ctxOf(c, 'users')}
        users={accounts.list(callerOf(c), 'user', '', 500).items}
        now={deps.now()}
        {...f}
      />
    )
  }
  app.get(
    '/users',
    render('users', (c) => usersPage(c)),
  )
  app.post(
    '/users',
    render('users', async (c) => {
      const form = (await c.req.parseBody()) as Record<string, unknown>
      const name = formText(form.name)
      const fullName = formText(form.fullName)
      const email = formText(form.email)
      try {
        const made = await accounts.create(callerOf(c), {
          name,
          kind: 'user',
          isAdmin: form.isAdmin === '1',
          ...(fullName ? { fullName } : {}),
          ...(email ? { email } : {}),
        })
        return usersPage(c, { created: { name, password: made.password ?? '' } })
      } catch (err) {
        if (!(err instanceof ApiError) || err.status === 401) throw err
        c.status(err.status as 400)
        return usersPage(c, { error: err.message })
      }
    }),
  )
  app.post(
    '/users/:name',
    flash('users', usersPage, async (c, form) => {
      const name = param(c, 'name')
      const patch: { isAdmin?: boolean; active?: boolean } = {}
      if (form.isAdmin === '0' || form.isAdmin === '1') patch.isAdmin = form.isAdmin === '1'
      if (form.active === '0' || form.active === '1') patch.active = form.active === '1'
      await accounts.update(callerOf(c), name, patch)
      if (patch.isAdmin !== undefined)
        return `${name} is ${patch.isAdmin ? 'now an administrator' : 'no longer an administrator'}.`
      return `${name} is ${patch.active ? 'active again' : 'deactivated: every session and token of theirs is revoked'}.`
    }),
  )

  const { ldap } = deps.identity
  const settingsPage = (
    c: Context<UiEnv>,
    f: Flash & { test?: LdapTestResult; draft?: Record<string, unknown> } = {},
  ) => {
    const caller = callerOf(c)
    const registry = settings.get(caller)
    const lastSync = audit.list(caller, { action: 'ldap.sync', limit: 1 }).items[0]
    return (
      <SettingsPage
        ctx={ctxOf(c, 'settings')}
        registry={registry}
        ldap={{ ...publicLdapSettings(ldap.settings()), ...withoutPassword(f.draft) }}
        unsavedPassword={typeof f.draft?.bindPassword === 'string'}
        lastSync={lastSync}
        now={deps.now()}
        {...f}
      />
    )
  }
  /** The LDAP form as the API's settings body: every field it shows, booleans from their checkboxes. */
  const ldapBody = (form: Record<string, unknown>) => {
    const body: Record<string, unknown> = {
      enabled: form.enabled === '1',
      startTls: form.startTls === '1',
      tlsRejectUnauthorized: form.tlsRejectUnauthorized === '1',
    }
    for (const k of LDAP_STRING_FIELDS) if (k !== 'bindPassword' && typeof form[k] === 'string') body[k] = form[k]
    if (typeof form.bindPassword === 'string' && form.bindPassword !== '') body.bindPassword = form.bindPassword
    return body
  }
  const adminOf = (c: Context<UiEnv>) => {
    const p = c.get('principal')
    if (p.kind !== 'user') throw new ApiError('UNAUTHORIZED', 'sign in first')
    if (!p.isAdmin) throw new ApiError('FORBIDDEN', 'only system administrators change settings')
    return p
  }

  app.get(
    '/settings',
    render('settings', (c) => settingsPage(c)),
  )
  app.post(
    '/settings/registry',
    flash('settings', settingsPage, (c, form) => {
      const on = form.createRepositoryOnPush === '1'
      settings.update(callerOf(c), { createRepositoryOnPush: on })
      return on
        ? 'Pushes create repositories that do not exist.'
        : 'Repositories must now be created before the first push.'
    }),
  )
  app.post(
    '/settings/keys/rotate',
    flash('settings', settingsPage, async (c) => {
      const { kid } = await settings.rotateKeys(callerOf(c))
      return `New signing key ${kid} in use.`
    }),
  )
  app.post(
    '/settings/ldap',
    flash('settings', settingsPage, (c, form) => {
      const admin = adminOf(c)
      const parsed = parseLdapSettings(ldapBody(form), ldap.settings())
      if (!parsed.ok)
        throw new FormError(`invalid LDAP settings: ${parsed.problems.join('; ')}`, { draft: ldapBody(form) })
      ldap.saveSettings(parsed.settings, actorOf(admin))
      return 'LDAP settings saved.'
    }),
  )
  app.post(
    '/settings/ldap/test',
    render('settings', async (c) => {
      adminOf(c)
      const form = (await c.req.parseBody()) as Record<string, unknown>
      const parsed = parseLdapSettings(ldapBody(form), ldap.settings())
      const test: LdapTestResult = parsed.ok
        ? await ldap.test(parsed.settings)
        : { ok: false, usersFound: 0, sample: [], error: parsed.problems.join('; ') }
      // the form comes back as it was sent (the password excepted): a test saves nothing
      return settingsPage(c, { test, draft: ldapBody(form) })
    }),
  )
  app.post(
    '/settings/ldap/sync',
    flash('settings', settingsPage, async (c) => {
      const admin = adminOf(c)
      if (!ldap.enabled()) throw new ApiError('CONFLICT', 'LDAP is disabled: enable it and save first')
      const r = await ldap.sync(actorOf(admin))
      return r.ok ? `Sync done: ${r.usersFound} users found.` : `Sync failed: ${r.errors[0] ?? 'unknown error'}`
    }),
  )

  const networkPage = async (c: Context<UiEnv>, f: Flash & { joinToken?: NewJoinToken } = {}) => {
    const caller = callerOf(c)
    const [sites, networks, assignments] = [
      await network.sites(caller),
      await network.networks(caller),
      await network.assignments(caller),
    ]
    return (
      <NetworkPage
        ctx={ctxOf(c, 'network')}
        sites={sites}
        networks={networks}
        assignments={assignments}
        now={deps.now()}
        {...f}
      />
    )
  }
  const sitePage = async (c: Context<UiEnv>, f: Flash & { joinToken?: NewJoinToken } = {}) => {
    const caller = callerOf(c)
    const { site, health } = await network.site(caller, param(c, 'site'))
    const config = site.url ? await network.clientConfig(caller, site.name, registryHost) : undefined
    return (
      <SitePage
        ctx={ctxOf(c, 'network')}
        site={site}
        health={health}
        sites={await network.sites(caller)}
        assignments={await network.assignments(caller)}
        config={config}
        now={deps.now()}
        {...f}
      />
    )
  }
  const coordinate = (v: unknown, max: number): number | undefined => {
    if (typeof v !== 'string' || v.trim() === '') return undefined
    const n = Number(v.trim().replace(',', '.'))
    if (!Number.isFinite(n) || Math.abs(n) > max)
      throw new ApiError('BAD_REQUEST', `${v.slice(0, 20)} is not a coordinate (±${max})`)
    return n
  }
  const assignmentKind = (v: unknown) => (v === 'team' || v === 'org' ? v : 'user')

  app.get(
    '/network',
    render('network', (c) => networkPage(c)),
  )
  app.post(
    '/network/sites',
    flash('network', networkPage, async (c, form) => {
      const latitude = coordinate(form.latitude, 90)
      const longitude = coordinate(form.longitude, 180)
      const region = formText(form.region, 64)
      const site = await network.createSite(callerOf(c), {
        name: formText(form.name, 63),
        url: formText(form.url, 2048),
        ...(region ? { region } : {}),
        ...(latitude !== undefined ? { latitude } : {}),
        ...(longitude !== undefined ? { longitude } : {}),
      })
      return `Site ${site.name} registered: make it a join token on its page and start its cache node with it.`
    }),
  )
  app.get(
    '/network/sites/:site',
    render('network', (c) => sitePage(c)),
  )
  app.post(
    '/network/sites/:site/join-token',
    render('network', async (c) => {
      const t = await network.createJoinToken(callerOf(c), param(c, 'site'))
      return sitePage(c, { joinToken: { site: param(c, 'site'), token: t.token, expiresAt: t.expiresAt } })
    }),
  )
  app.post(
    '/network/sites/:site/networks',
    flash('network', sitePage, async (c, form) => {
      const list = formText(form.networks, 20_000)
        .split(/[\s,]+/)
        .filter(Boolean)
      const site = await network.setSiteNetworks(callerOf(c), param(c, 'site'), list)
      return site.networks.length
        ? `${site.name} serves ${site.networks.join(', ')}.`
        : `${site.name} serves no networks of its own.`
    }),
  )
  app.get(
    '/network/sites/:site/client-config/:client',
    render('network', async (c) => {
      const config = await network.clientConfig(callerOf(c), param(c, 'site'), registryHost)
      const file = config.files.find((f) => f.client === param(c, 'client'))
      if (!file)
        throw new ApiError('NOT_FOUND', `no configuration for a client named ${param(c, 'client').slice(0, 40)}`)
      const name = file.path.split('/').pop() ?? 'config'
      c.header('Content-Type', 'text/plain; charset=utf-8')
      c.header('Content-Disposition', `attachment; filename="${name.replace(/[^A-Za-z0-9._-]/g, '_')}"`)
      return c.body(file.content)
    }),
  )
  app.post(
    '/network/networks',
    flash('network', networkPage, async (c, form) => {
      const latitude = coordinate(form.latitude, 90)
      const longitude = coordinate(form.longitude, 180)
      if (latitude === undefined || longitude === undefined)
        throw new ApiError('BAD_REQUEST', 'a client network needs its latitude and longitude')
      const label = formText(form.label, 128)
      const n = await network.createNetwork(callerOf(c), {
        cidr: formText(form.cidr, 64),
        latitude,
        longitude,
        ...(label ? { label } : {}),
      })
      return `Network ${n.cidr} added.`
    }),
  )
  app.post(
    '/network/networks/:id/delete',
    flash('network', networkPage, async (c) => {
      await network.deleteNetwork(callerOf(c), param(c, 'id'))
      return 'Network removed.'
    }),
  )
  app.post(
    '/network/assignments',
    flash('network', networkPage, async (c, form) => {
      const kind = assignmentKind(form.kind)
      const subject = formText(form.subject)
      const site = formText(form.site)
      await network.assign(callerOf(c), kind, subject, site)
      return `${kind} ${subject} now pulls through ${site}.`
    }),
  )
  app.post(
    '/network/assignments/remove',
    flash('network', networkPage, async (c, form) => {
      const kind = assignmentKind(form.kind)
      const subject = formText(form.subject)
      await network.unassign(callerOf(c), kind, subject)
      return `${kind} ${subject} is no longer assigned to a site.`
    }),
  )

  const bandwidthForm = (c: Context<UiEnv>): { form: BandwidthForm; request: BandwidthRequest } => {
    const date = (k: string) => {
      const v = c.req.query(k)
      return v && /^\d{4}-\d{2}-\d{2}$/.test(v) && Number.isFinite(Date.parse(v)) ? v : ''
    }
    const form: BandwidthForm = {
      from: date('from'),
      to: date('to'),
      granularity: c.req.query('granularity') === 'hour' ? 'hour' : 'day',
      site: formText(c.req.query('site'), 255),
    }
    const request: BandwidthRequest = { granularity: form.granularity, top: 10 }
    if (form.from) request.from = `${form.from}T00:00:00Z`
    // the day chosen as "to" is included
    if (form.to) request.to = new Date(Date.parse(`${form.to}T00:00:00Z`) + DAY_MS).toISOString()
    if (form.site) request.site = form.site
    return { form, request }
  }
  const bandwidthQuery = (form: BandwidthForm) =>
    new URLSearchParams(Object.entries(form).filter((e): e is [string, string] => e[1] !== ''))

  app.get(
    '/bandwidth',
    render('bandwidth', async (c) => {
      const { form, request } = bandwidthForm(c)
      const caller = callerOf(c)
      const report = await network.bandwidth(caller, request)
      return (
        <BandwidthPage
          ctx={ctxOf(c, 'bandwidth')}
          form={form}
          report={report}
          sites={await network.sites(caller)}
          csvHref={`/bandwidth.csv?${bandwidthQuery(form)}`}
        />
      )
    }),
  )
  app.get(
    '/bandwidth.csv',
    render('bandwidth', async (c) => {
      const { request } = bandwidthForm(c)
      const csv = await network.bandwidthCsv(callerOf(c), request)
      c.header('Content-Type', 'text/csv; charset=utf-8')
      c.header('Content-Disposition', 'attachment; filename="wharf-bandwidth.csv"')
      return c.body(csv)
    }),
  )

  app.get(
    `/repositories/${NAME}`,
    render('repositories', (c) => repositoryPage(c)),
  )

  return app
}

/** A settings draft without the password typed into it: a password is never written into a page. */
function withoutPassword(draft: Record<string, unknown> | undefined): Record<string, unknown> {
  const rest = { ...draft }
  delete rest.bindPassword
  return rest
}

/** A form that cannot be accepted as sent: shown again with the message and what `extra` keeps of it. */
class FormError extends Error {
  constructor(
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message)
  }
}

function param(c: Context, name: string): string {
  return c.req.param(name) ?? ''
}

/** Where to go after signing in: a path on this site only (never `//evil.example` or a full URL). */
function safeNext(next: string | undefined): string {
  return next && /^\/(?![/\\])/.test(next) ? next : '/repositories'
}

function pathOf(c: Context): string {
  const u = new URL(c.req.url)
  return `${u.pathname}${u.search}`
}

const EVENTS_PER_PAGE = 50
const DAY_MS = 86_400_000

/** The events filter of a page's query: dates are whole UTC days, `until` included. */
function eventsQuery(c: Context<UiEnv>): { q: EventsQuery; filter: EventFilter } {
  const q: EventsQuery = {}
  const filter: EventFilter = { limit: EVENTS_PER_PAGE }
  for (const k of ['actor', 'action', 'target'] as const) {
    const v = c.req.query(k)?.trim().slice(0, 1000)
    if (v) {
      q[k] = v
      filter[k] = v
    }
  }
  for (const k of ['since', 'until'] as const) {
    const v = c.req.query(k)
    const ms = v && /^\d{4}-\d{2}-\d{2}$/.test(v) ? Date.parse(`${v}T00:00:00Z`) : Number.NaN
    if (Number.isFinite(ms)) {
      q[k] = v
      filter[k] = k === 'until' ? ms + DAY_MS : ms
    }
  }
  const before = c.req.query('before')
  if (before && /^\d{1,15}$/.test(before)) filter.before = Number(before)
  return { q, filter }
}

function clean(q: EventsQuery): Record<string, string> {
  return Object.fromEntries(Object.entries(q).filter((e): e is [string, string] => typeof e[1] === 'string'))
}

function repositoriesQuery(c: Context<UiEnv>): RepositoriesQuery {
  const get = (k: string) => {
    const v = c.req.query(k)
    return v === undefined || v === '' ? undefined : v.slice(0, 255)
  }
  const visibility = get('visibility')
  const q: RepositoriesQuery = {
    sort: get('sort') === 'pushed' ? 'pushed' : 'name',
    page: Math.max(1, Number.parseInt(get('page') ?? '1', 10) || 1),
    perPage: REPOSITORIES_PER_PAGE,
    base: '',
  }
  const search = get('q')
  const namespace = get('namespace')
  if (search) q.search = search
  if (namespace) q.namespace = namespace
  if (visibility === 'public' || visibility === 'private') q.visibility = visibility
  if (get('mine') === '1' && c.get('principal').kind === 'user') q.mine = true
  const base = new URLSearchParams()
  for (const k of ['q', 'namespace', 'visibility', 'sort', 'mine']) {
    const v = get(k)
    if (v) base.set(k, v)
  }
  q.base = base.toString()
  return q
}
