import type { FC } from 'hono/jsx'
import type { AssignmentView, ClientConfig, HealthView, NetworkView, SiteView } from '../../../control-plane/schemas.ts'
import { bytes, Copyable, Time } from '../format.tsx'
import { Layout, Messages, PostForm, type PageContext, TableHead } from '../layout.tsx'
import type { Flash } from './people.tsx'

export interface NewJoinToken {
  site: string
  token: string
  expiresAt: string
}

const W = 720
const H = 360

/** Sites on an equirectangular grid (longitude across, latitude up), coloured by health; no map tiles needed. */
export const SiteMap: FC<{ sites: SiteView[] }> = ({ sites }) => {
  const placed = sites.filter((s) => s.latitude !== null && s.longitude !== null)
  const x = (lon: number) => ((lon + 180) / 360) * W
  const y = (lat: number) => ((90 - lat) / 180) * H
  return (
    <figure class="map">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby="map-title" id="site-map">
        <title id="map-title">Cache sites by location</title>
        <rect class="sea" x="0" y="0" width={W} height={H} rx="8" />
        {[-60, -30, 0, 30, 60].map((lat) => (
          <line class={lat === 0 ? 'grid equator' : 'grid'} x1="0" x2={W} y1={y(lat)} y2={y(lat)} />
        ))}
        {[-120, -60, 0, 60, 120].map((lon) => (
          <line class={lon === 0 ? 'grid equator' : 'grid'} y1="0" y2={H} x1={x(lon)} x2={x(lon)} />
        ))}
        {placed.map((s) => (
          <g
            class={`site ${s.health.state}`}
            transform={`translate(${x(s.longitude!).toFixed(1)} ${y(s.latitude!).toFixed(1)})`}
          >
            <title>{`${s.name}: ${s.health.state}${s.region ? ` (${s.region})` : ''}`}</title>
            <circle r="7" />
            <text x="10" y="4">
              {s.name}
            </text>
          </g>
        ))}
      </svg>
      <figcaption class="muted small">
        {placed.length < sites.length
          ? `${sites.length - placed.length} site(s) without a location are not on the map.`
          : 'Longitude across, latitude up.'}
      </figcaption>
    </figure>
  )
}

const State: FC<{ state: string }> = ({ state }) => <span class={`badge state-${state}`}>{state}</span>

export const NetworkPage: FC<
  {
    ctx: PageContext
    sites: SiteView[]
    networks: NetworkView[]
    assignments: AssignmentView[]
    joinToken?: NewJoinToken
    now: number
  } & Flash
> = (p) => (
  <Layout ctx={p.ctx} title="Cache network">
    <h1>Cache network</h1>
    <Messages notice={p.notice} error={p.error} />
    {p.joinToken ? <JoinTokenCard t={p.joinToken} /> : null}
    <SiteMap sites={p.sites} />
    <section aria-labelledby="sites-h">
      <h2 id="sites-h">Sites</h2>
      {p.sites.length === 0 ? (
        <p class="muted">No sites yet: register one below, then start a cache node with its join token.</p>
      ) : (
        <div class="table-wrap">
          <table class="list" id="sites">
            <TableHead
              cols={[
                'Site',
                'State',
                'Region',
                'Location',
                'Last heartbeat',
                { label: 'Disk used / free', num: true },
                { label: 'Hit ratio', num: true },
              ]}
            />
            <tbody>
              {p.sites.map((s) => (
                <tr data-site={s.name}>
                  <td>
                    <a href={`/network/sites/${s.name}`} class="repo-name">
                      {s.name}
                    </a>
                    {s.isDefault ? <span class="badge">default</span> : null}
                    <div class="muted small">{s.url ?? ''}</div>
                  </td>
                  <td>
                    <State state={s.health.state} />
                  </td>
                  <td>{s.region ?? <span class="muted">—</span>}</td>
                  <td>
                    {s.latitude !== null && s.longitude !== null
                      ? `${s.latitude.toFixed(2)}, ${s.longitude.toFixed(2)}`
                      : '—'}
                  </td>
                  <td>
                    <Time iso={s.health.lastHeartbeatAt} now={p.now} />
                  </td>
                  <td class="num">
                    {s.stats ? `${bytes(s.stats.diskUsedBytes)} / ${bytes(s.stats.diskFreeBytes)}` : '—'}
                  </td>
                  <td class="num">
                    {s.stats?.hitRatio !== null && s.stats?.hitRatio !== undefined
                      ? `${(s.stats.hitRatio * 100).toFixed(1)} %`
                      : '—'}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h3>Register a site</h3>
      <PostForm action="/network/sites" csrf={p.ctx.csrf} class="row-form">
        <label>
          Name
          <input name="name" required maxlength={63} pattern="[a-z0-9][a-z0-9\-]*" placeholder="eu-west" />
        </label>
        <label>
          URL clients are sent to
          <input name="url" required maxlength={2048} placeholder="https://cache-eu.example.com" />
        </label>
        <label>
          Region
          <input name="region" maxlength={64} />
        </label>
        <label>
          Latitude
          <input name="latitude" inputmode="decimal" maxlength={12} />
        </label>
        <label>
          Longitude
          <input name="longitude" inputmode="decimal" maxlength={12} />
        </label>
        <button type="submit" class="primary">
          Register site
        </button>
      </PostForm>
    </section>

    <section aria-labelledby="nets-h">
      <h2 id="nets-h">Client networks</h2>
      <p class="muted">Where clients are: addresses in these networks are placed here for the nearest-site rule.</p>
      {p.networks.length === 0 ? (
        <p class="muted">No client networks.</p>
      ) : (
        <div class="table-wrap">
          <table class="list" id="networks">
            <tbody>
              {p.networks.map((n) => (
                <tr>
                  <td>
                    <code>{n.cidr}</code>
                  </td>
                  <td>{n.label ?? ''}</td>
                  <td>
                    {n.latitude.toFixed(2)}, {n.longitude.toFixed(2)}
                  </td>
                  <td class="num">
                    <PostForm action={`/network/networks/${n.id}/delete`} csrf={p.ctx.csrf} class="inline">
                      <button type="submit" class="link danger-link" aria-label={`Remove ${n.cidr}`}>
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
      <PostForm action="/network/networks" csrf={p.ctx.csrf} class="row-form">
        <label>
          CIDR
          <input name="cidr" required maxlength={64} placeholder="10.1.0.0/16" />
        </label>
        <label>
          Label
          <input name="label" maxlength={128} />
        </label>
        <label>
          Latitude
          <input name="latitude" required inputmode="decimal" maxlength={12} />
        </label>
        <label>
          Longitude
          <input name="longitude" required inputmode="decimal" maxlength={12} />
        </label>
        <button type="submit">Add network</button>
      </PostForm>
    </section>

    <section aria-labelledby="assign-h">
      <h2 id="assign-h">Assignments</h2>
      <p class="muted">Send a user's, a team's or an organization's pulls to a chosen site, whatever their address.</p>
      <Assignments ctx={p.ctx} assignments={p.assignments} sites={p.sites} />
    </section>
  </Layout>
)

const JoinTokenCard: FC<{ t: NewJoinToken }> = ({ t }) => (
  <section class="card secret" role="status" id="new-secret">
    <h2>Join token for {t.site}</h2>
    <p>Shown this once; it works once, until {t.expiresAt}. Start the site's cache node with it:</p>
    <Copyable text={`CACHE_JOIN_TOKEN=${t.token}`} label="the join token" />
  </section>
)

const Assignments: FC<{ ctx: PageContext; assignments: AssignmentView[]; sites: SiteView[]; site?: string }> = (p) => (
  <>
    {p.assignments.length === 0 ? (
      <p class="muted">No assignments.</p>
    ) : (
      <div class="table-wrap">
        <table class="list" id="assignments">
          <tbody>
            {p.assignments.map((a) => (
              <tr>
                <td>
                  <span class="badge">{a.kind}</span> {a.subject}
                </td>
                <td>→ {a.site}</td>
                <td class="num">
                  <PostForm action="/network/assignments/remove" csrf={p.ctx.csrf} class="inline">
                    <input type="hidden" name="kind" value={a.kind} />
                    <input type="hidden" name="subject" value={a.subject} />
                    <button type="submit" class="link danger-link">
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
    <PostForm action="/network/assignments" csrf={p.ctx.csrf} class="row-form">
      <label>
        Kind
        <select name="kind">
          <option value="user">user</option>
          <option value="team">team (org/team)</option>
          <option value="org">organization</option>
        </select>
      </label>
      <label>
        Who
        <input name="subject" required maxlength={255} />
      </label>
      <label>
        Site
        <select name="site">
          {p.sites.map((s) => (
            <option value={s.name} selected={s.name === p.site}>
              {s.name}
            </option>
          ))}
        </select>
      </label>
      <button type="submit">Assign</button>
    </PostForm>
  </>
)

export const SitePage: FC<
  {
    ctx: PageContext
    site: SiteView
    health: HealthView
    assignments: AssignmentView[]
    sites: SiteView[]
    config: ClientConfig | undefined
    joinToken?: NewJoinToken
    now: number
  } & Flash
> = (p) => {
  const s = p.site
  return (
    <Layout ctx={p.ctx} title={`Site ${s.name}`}>
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href="/network">Cache network</a>
      </nav>
      <h1>
        {s.name} <State state={s.health.state} />
      </h1>
      <Messages notice={p.notice} error={p.error} />
      {p.joinToken ? <JoinTokenCard t={p.joinToken} /> : null}
      <dl class="facts">
        <dt>URL</dt>
        <dd>{s.url ?? '—'}</dd>
        <dt>Region</dt>
        <dd>{s.region ?? '—'}</dd>
        <dt>Location</dt>
        <dd>{s.latitude !== null && s.longitude !== null ? `${s.latitude}, ${s.longitude}` : '—'}</dd>
        <dt>Parent</dt>
        <dd>{s.parent ?? 'the origin'}</dd>
        <dt>Networks</dt>
        <dd>{s.networks.length ? s.networks.join(', ') : '—'}</dd>
        <dt>Last heartbeat</dt>
        <dd>
          <Time iso={s.health.lastHeartbeatAt} now={p.now} />
        </dd>
        {s.stats ? (
          <>
            <dt>Version</dt>
            <dd>{s.stats.version}</dd>
            <dt>Disk</dt>
            <dd>
              {bytes(s.stats.diskUsedBytes)} used of {bytes(s.stats.capacityBytes)}, {bytes(s.stats.diskFreeBytes)} free
            </dd>
            <dt>Hit ratio</dt>
            <dd>{s.stats.hitRatio !== null ? `${(s.stats.hitRatio * 100).toFixed(1)} %` : '—'}</dd>
          </>
        ) : null}
      </dl>
      <div class="row-form">
        <PostForm action={`/network/sites/${s.name}/join-token`} csrf={p.ctx.csrf} class="inline">
          <button type="submit">Make a join token</button>
        </PostForm>
        <a href={`/bandwidth?site=${s.name}`}>Bandwidth of this site →</a>
      </div>

      <section aria-labelledby="sitenets-h">
        <h2 id="sitenets-h">Networks served here</h2>
        <p class="muted">
          Clients with an address in these networks pull through this site, before the nearest-site rule.
        </p>
        <PostForm action={`/network/sites/${s.name}/networks`} csrf={p.ctx.csrf} class="row-form">
          <label>
            CIDRs, one per line
            <textarea name="networks" rows={3} maxlength={20000}>
              {s.networks.join('\n')}
            </textarea>
          </label>
          <button type="submit">Save networks</button>
        </PostForm>
      </section>

      <section aria-labelledby="health-h">
        <h2 id="health-h">Health history</h2>
        {p.health.history.length === 0 ? (
          <p class="muted">No changes recorded.</p>
        ) : (
          <ol class="timeline" id="health">
            {p.health.history.map((h) => (
              <li>
                <div class="when">
                  <Time iso={h.at} now={p.now} />
                </div>
                <div class="what">
                  <State state={h.state} /> <span class="muted small">{h.reason}</span>
                </div>
                <div />
              </li>
            ))}
          </ol>
        )}
      </section>

      <section aria-labelledby="siteassign-h">
        <h2 id="siteassign-h">Assigned here</h2>
        <Assignments
          ctx={p.ctx}
          assignments={p.assignments.filter((a) => a.site === s.name || a.site === s.id)}
          sites={p.sites}
          site={s.name}
        />
      </section>

      <section aria-labelledby="config-h">
        <h2 id="config-h">Client configuration</h2>
        {p.config ? (
          p.config.files.map((f) => (
            <div class="client-file">
              <h3>
                {f.client} <code class="muted small">{f.path}</code>
              </h3>
              {f.note ? <p class="muted small">{f.note}</p> : null}
              <pre class="file">{f.content}</pre>
              <a href={`/network/sites/${s.name}/client-config/${f.client}`} download>
                Download for {f.client}
              </a>
            </div>
          ))
        ) : (
          <p class="muted">The site has no URL yet, so clients cannot be pointed at it.</p>
        )}
      </section>
    </Layout>
  )
}
