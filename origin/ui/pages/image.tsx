import type { FC } from 'hono/jsx'
import type { ImageView } from '../../services/images.ts'
import { bytes, Copyable, Digest, Time } from '../format.tsx'
import { Layout, type PageContext, TableHead } from '../layout.tsx'

const Field: FC<{ name: string; value: string | null | undefined }> = ({ name, value }) =>
  value ? (
    <>
      <dt>{name}</dt>
      <dd>
        <code>{value}</code>
      </dd>
    </>
  ) : null

const ConfigSection: FC<{ image: ImageView }> = ({ image }) => {
  const c = image.config
  if (!c)
    return image.configProblem ? (
      <p class="muted" id="config-problem">
        Configuration not shown: {image.configProblem}.
      </p>
    ) : null
  const labels = Object.entries(c.labels)
  return (
    <section aria-labelledby="config-h">
      <h2 id="config-h">Configuration</h2>
      <dl class="facts" id="config">
        <Field name="Platform" value={[c.os, c.architecture, c.variant].filter(Boolean).join('/')} />
        <Field name="Created" value={c.created} />
        <Field name="Author" value={c.author} />
        <Field name="Entrypoint" value={c.entrypoint ? JSON.stringify(c.entrypoint) : null} />
        <Field name="Cmd" value={c.cmd ? JSON.stringify(c.cmd) : null} />
        <Field name="User" value={c.user} />
        <Field name="Working directory" value={c.workingDir} />
        <Field name="Exposed ports" value={c.exposedPorts.join(', ')} />
        <Field name="Volumes" value={c.volumes.join(', ')} />
        <Field name="Stop signal" value={c.stopSignal} />
      </dl>
      {c.env.length > 0 ? (
        <>
          <h3>Environment</h3>
          <ul class="env" id="env">
            {c.env.map((e) => (
              <li>
                <code>{e}</code>
              </li>
            ))}
          </ul>
        </>
      ) : null}
      {labels.length > 0 ? (
        <>
          <h3>Labels</h3>
          <div class="table-wrap">
            <table class="list" id="labels">
              <tbody>
                {labels.map(([k, v]) => (
                  <tr>
                    <th scope="row">
                      <code>{k}</code>
                    </th>
                    <td>{v}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      ) : null}
    </section>
  )
}

const Steps: FC<{ image: ImageView; now: number }> = ({ image }) => (
  <section aria-labelledby="layers-h">
    <h2 id="layers-h">Layers and the Dockerfile lines that made them</h2>
    <ol class="steps" id="steps">
      {image.steps.map((s) => (
        <li class={s.layer ? 'layer' : 'empty'}>
          <pre class="line">{s.line ?? <span class="muted">(no history for this layer)</span>}</pre>
          <div class="meta">
            {s.layer ? (
              <>
                <Digest digest={s.layer.digest} /> <span class="size">{bytes(s.layer.size)}</span>
              </>
            ) : (
              <span class="muted small">no layer</span>
            )}
          </div>
        </li>
      ))}
    </ol>
  </section>
)

export const ImagePage: FC<{ ctx: PageContext; image: ImageView; reference: string; now: number }> = (p) => {
  const { image, ctx, now } = p
  const repoUrl = `/repositories/${image.repository}`
  const title = `${image.repository}${p.reference.includes(':') ? '@' : ':'}${p.reference}`
  return (
    <Layout ctx={ctx} title={title}>
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href="/repositories">Repositories</a> / <a href={repoUrl}>{image.repository}</a>
      </nav>
      <header class="page-head">
        <h1>{title}</h1>
        <dl class="facts">
          <dt>Digest</dt>
          <dd>
            <code class="digest-full">{image.digest}</code>
          </dd>
          <dt>Kind</dt>
          <dd>
            {image.kind} <span class="muted small">({image.mediaType})</span>
          </dd>
          {image.tags.length > 0 ? (
            <>
              <dt>Tags</dt>
              <dd>{image.tags.join(', ')}</dd>
            </>
          ) : null}
          <dt>Pushed</dt>
          <dd>
            <Time iso={image.pushedAt} now={now} /> by{' '}
            <span class="who-name" id="pusher">
              {image.pushedBy}
            </span>
          </dd>
          <dt>Last pulled</dt>
          <dd>
            <Time iso={image.pulledAt} now={now} />
          </dd>
          <dt>Compressed size</dt>
          <dd>{bytes(image.size)}</dd>
        </dl>
        <Copyable
          text={`docker pull ${ctx.registryHost}/${image.repository}@${image.digest}`}
          label="the pull command"
        />
      </header>
      {image.kind === 'index' ? (
        <section aria-labelledby="platforms-h">
          <h2 id="platforms-h">Platforms</h2>
          <div class="table-wrap">
            <table class="list" id="platforms">
              <TableHead cols={['OS/Arch', 'Digest', { label: 'Size', num: true }]} />
              <tbody>
                {image.platforms.map((pl) => (
                  <tr>
                    <td>
                      <a href={`${repoUrl}/_image/${pl.digest}`}>
                        {pl.os ?? '?'}/{pl.architecture ?? '?'}
                        {pl.variant ? `/${pl.variant}` : ''}
                      </a>
                    </td>
                    <td>
                      <Digest digest={pl.digest} />
                    </td>
                    <td class="num">{bytes(pl.size)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      ) : (
        <>
          <Steps image={image} now={now} />
          <ConfigSection image={image} />
        </>
      )}
      <section aria-labelledby="referrers-h">
        <h2 id="referrers-h">Attached artifacts</h2>
        {image.referrers.length === 0 ? (
          <p class="muted">No signatures, SBOMs or other artifacts refer to this {image.kind}.</p>
        ) : (
          <div class="table-wrap">
            <table class="list" id="referrers">
              <TableHead cols={['Type', 'Digest', { label: 'Size', num: true }]} />
              <tbody>
                {image.referrers.map((r) => (
                  <tr>
                    <td>
                      <code>{r.artifactType ?? r.mediaType}</code>
                    </td>
                    <td>
                      <a href={`${repoUrl}/_image/${r.digest}`}>
                        <Digest digest={r.digest} />
                      </a>
                    </td>
                    <td class="num">{bytes(r.size)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </Layout>
  )
}
