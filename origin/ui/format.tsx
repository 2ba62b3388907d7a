import type { FC } from 'hono/jsx'
import { raw } from 'hono/html'
import MarkdownIt from 'markdown-it'

/** Bytes as people read them: 1.5 MB (decimal units, as docker prints sizes). */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—'
  if (n < 1000) return `${n} B`
  const units = ['kB', 'MB', 'GB', 'TB', 'PB']
  let v = n / 1000
  let u = 0
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000
    u++
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`
}

/** How long ago: "3 minutes ago", "2 days ago". */
export function ago(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000))
  const steps: [number, string][] = [
    [60, 'second'],
    [60, 'minute'],
    [24, 'hour'],
    [30, 'day'],
    [12, 'month'],
    [Number.POSITIVE_INFINITY, 'year'],
  ]
  let v = s
  for (const [size, unit] of steps) {
    if (v < size) return v <= 1 && unit === 'second' ? 'just now' : `${v} ${unit}${v === 1 ? '' : 's'} ago`
    v = Math.floor(v / size)
  }
  return iso
}

/** A time: relative on screen, the exact UTC time as its title and datetime. */
export const Time: FC<{ iso: string | null; now: number; never?: string }> = ({ iso, now, never }) =>
  iso === null ? (
    <span class="muted">{never ?? 'never'}</span>
  ) : (
    <time datetime={iso} title={iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}>
      {ago(iso, now)}
    </time>
  )

/** A digest cut to what people compare (sha256:0123456789ab), whole in its title. */
export const Digest: FC<{ digest: string }> = ({ digest }) => (
  <code class="digest" title={digest}>
    {digest.replace(/^(sha\d+:)([0-9a-f]{12})[0-9a-f]*$/, '$1$2')}
  </code>
)

/** A text with a button that copies it (the button appears only with JavaScript). */
export const Copyable: FC<{ text: string; label: string }> = ({ text, label }) => (
  <div class="copyable">
    <code>{text}</code>
    <button type="button" class="copy" data-copy={text} aria-label={`Copy ${label}`} hidden>
      Copy
    </button>
  </div>
)

// raw HTML in Markdown is shown as text (html: false); markdown-it's link check refuses javascript:, vbscript:,
// file: and data: (but images) URLs
const md = new MarkdownIt({ html: false, linkify: false, typographer: false })
const defaultLinkOpen = md.renderer.rules.link_open
md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
  // links leave with no referrer and no handle on this window
  tokens[idx]!.attrSet('rel', 'noopener noreferrer nofollow')
  return defaultLinkOpen ? defaultLinkOpen(tokens, idx, options, env, self) : self.renderToken(tokens, idx, options)
}

/** A Markdown text rendered safely: no raw HTML, no script URLs. */
export const Markdown: FC<{ source: string }> = ({ source }) => <div class="markdown">{raw(md.render(source))}</div>
