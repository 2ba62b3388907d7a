/**
 * The wire format of the control plane's /api/v0, as zod schemas: what each request may carry (checked by the
 * routes) and what each answer holds. The `wharf` CLI reads its types from here (`z.infer`), so the two sides cannot
 * drift. Requests from people and scripts are strict (an unknown field is a 400 naming it); what cache nodes send
 * (join, heartbeats, metrics) is loose, because a newer node may send fields this control plane does not know yet
 * (docs/network-protocol.md).
 */
import { z } from 'zod'
import { between, flag, listOf, oneOf, strict, text, whole } from '../lib/validation.ts'
import { parseCidr } from './services/cidr.ts'

/** Default lifetime of a join token: one hour. */
export const DEFAULT_JOIN_TTL_S = 3600
/** Longest lifetime of a join token: 30 days. */
export const MAX_JOIN_TTL_S = 30 * 86_400
/** Most entries one metrics batch may carry. */
export const MAX_BATCH_ENTRIES = 10_000
/** Top repositories listed when `top` is not given. */
export const DEFAULT_TOP = 10
const HOUR_MS = 3_600_000
const MAX_CA_BYTES = 64 * 1024

export const SITE_NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/
const SITE_NAME_ERROR = 'must be 1 to 63 lowercase letters, digits and dashes, starting with a letter or digit'
const ROOT_URL_ERROR = "must be an http(s) URL at a host's root, such as https://cache-eu.example.com"
const CIDR_ERROR = 'must be a CIDR such as 10.0.0.0/8 or 2001:db8::/32'
const ISO_ERROR = 'must be an ISO 8601 time such as 2026-11-23T14:00:00Z'
const ISO_RE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/

export const siteName = () => z.string({ error: SITE_NAME_ERROR }).regex(SITE_NAME_RE, { error: SITE_NAME_ERROR })

/** An http(s) URL at a host's root, kept as its origin (`https://host[:port]`, no trailing slash). */
export const rootUrl = () =>
  z.string({ error: ROOT_URL_ERROR }).transform((v, ctx) => {
    let u: URL | undefined
    try {
      u = new URL(v)
    } catch {
      u = undefined
    }
    if (u && (u.protocol === 'http:' || u.protocol === 'https:') && u.pathname === '/' && !u.search && !u.hash && !u.username && !u.password)
      return u.origin
    ctx.addIssue({ code: 'custom', message: ROOT_URL_ERROR })
    return z.NEVER
  })

/** A CIDR, kept in canonical form (host bits cleared). */
export const cidr = () =>
  z.string({ error: CIDR_ERROR }).transform((v, ctx) => {
    const c = parseCidr(v)
    if (c) return c.text
    ctx.addIssue({ code: 'custom', message: `${CIDR_ERROR} (got ${JSON.stringify(v).slice(0, 80)})` })
    return z.NEVER
  })

/** An ISO 8601 time (`2026-11-23T14:00:00Z`), in epoch milliseconds. */
export const isoTime = () =>
  z.string({ error: ISO_ERROR }).transform((v, ctx) => {
    const ms = ISO_RE.test(v) ? Date.parse(v) : NaN
    if (Number.isFinite(ms)) return ms
    ctx.addIssue({ code: 'custom', message: ISO_ERROR })
    return z.NEVER
  })

const PEM_ERROR = 'must be a PEM certificate (-----BEGIN CERTIFICATE----- …)'
const pem = () => text(MAX_CA_BYTES, 1).refine((p) => p.includes('-----BEGIN CERTIFICATE-----'), { error: PEM_ERROR })

// ---- requests ----

/** The fields of a site a request may set; `null` clears one. */
const SITE_FIELDS = {
  name: siteName(),
  url: rootUrl().nullable(),
  region: text(64, 1).nullable(),
  latitude: between(-90, 90).nullable(),
  longitude: between(-180, 180).nullable(),
  networks: listOf(cidr(), 256).nullable(),
  parent: z.string({ error: 'must be the name of another site, or null' }).max(255).nullable(),
  capacityBytes: whole().nullable(),
  isDefault: flag(),
  caCertificate: pem().nullable(),
}

/** `PATCH /sites/{site}`: any of the fields. */
export const SitePatch = strict(SITE_FIELDS).partial()
export type SitePatch = z.infer<typeof SitePatch>

/** `POST /sites`: a name and where clients reach the cache, then any other field. */
export const SiteCreate = strict({ ...SitePatch.shape, name: siteName(), url: rootUrl() })
export type SiteCreate = z.infer<typeof SiteCreate>

/** `POST /join` from a cache node: what it knows of itself. Loose: fields a newer node sends are ignored. */
export const JoinRequest = z
  .looseObject({ version: text(64), ...SITE_FIELDS })
  .omit({ isDefault: true, caCertificate: true })
  .partial()
export type JoinRequest = z.infer<typeof JoinRequest>

/** `POST /sites/{id}/heartbeat` from a cache node. Loose, as JoinRequest. */
export const Heartbeat = z.looseObject({
  version: text(64).default(''),
  diskUsedBytes: whole().default(0),
  diskFreeBytes: whole().default(0),
  capacityBytes: whole().default(0),
  hitRatio: between(0, 1).nullable().default(null),
  /** The registry the node mirrors for docker's registry-mirrors (its CACHE_DOCKER_MIRROR), or null. */
  dockerMirror: text(255, 1).nullable().default(null),
  url: rootUrl().nullable().default(null),
})
export type Heartbeat = z.infer<typeof Heartbeat>

const UsageEntry = z.looseObject({
  repository: text(255, 1),
  hour: isoTime().refine((ms) => ms % HOUR_MS === 0, {
    error: 'must be the start of a UTC hour, such as 2026-11-23T14:00:00.000Z',
  }),
  requests: whole().default(0),
  hits: whole().default(0),
  misses: whole().default(0),
  bytesToClients: whole().default(0),
  bytesFromUpstream: whole().default(0),
})

/** `POST /sites/{id}/metrics` from a cache node: one batch of hourly counters, idempotent by `batch`. */
export const MetricsBatch = z.looseObject({
  batch: text(128, 1),
  entries: listOf(UsageEntry, MAX_BATCH_ENTRIES),
})
export type MetricsBatch = z.infer<typeof MetricsBatch>

/** `POST /join-tokens`. */
export const JoinTokenCreate = strict({
  site: text(255, 1).nullable().optional(),
  expiresIn: whole(1, MAX_JOIN_TTL_S).default(DEFAULT_JOIN_TTL_S),
  uses: whole(1, 10_000).default(1),
})
/** What a client sends. */
export type JoinTokenCreate = z.input<typeof JoinTokenCreate>
/** What the service gets, defaults applied. */
export type JoinTokenOptions = z.output<typeof JoinTokenCreate>

/** `PUT /assignments/{kind}/{subject}`: the site, by name or id. */
export const AssignmentPut = strict({ site: text(255, 1) })
export type AssignmentPut = z.infer<typeof AssignmentPut>

/** `POST /networks`. */
export const NetworkCreate = strict({
  cidr: cidr(),
  latitude: between(-90, 90),
  longitude: between(-180, 180),
  label: text(128, 1).nullable().optional(),
})
export type NetworkCreate = z.infer<typeof NetworkCreate>

/** '' and null count as absent. */
const absent = (v: unknown) => (v === '' || v === null ? undefined : v)

/** `POST /assignments/resolve`: who is pulling, and from where. */
export const ResolveRequest = strict({
  user: z.preprocess(absent, text(255, 1).optional()),
  teams: z.preprocess(absent, listOf(text(255, 1), 1000).default([])),
  orgs: z.preprocess(absent, listOf(text(255, 1), 1000).default([])),
  address: z.preprocess(absent, text(64, 1).optional()),
})
export type ResolveRequest = z.infer<typeof ResolveRequest>

/** `GET /reports/bandwidth?…`. */
export const BandwidthQuery = strict({
  from: isoTime().optional(),
  to: isoTime().optional(),
  granularity: oneOf(['hour', 'day']).default('day'),
  site: z.string().optional(),
  repository: z.string().optional(),
  top: z
    .string()
    .regex(/^\d{1,4}$/, { error: 'must be a whole number from 0 to 9999' })
    .transform(Number)
    .default(DEFAULT_TOP),
  format: oneOf(['json', 'csv']).optional(),
})
export type BandwidthQuery = z.infer<typeof BandwidthQuery>

/** `GET /sites/{site}/health?limit=`. */
export const HealthQuery = strict({
  limit: z
    .string()
    .regex(/^\d{1,4}$/, { error: 'must be a whole number from 1 to 1000' })
    .transform(Number)
    .pipe(whole(1, 1000))
    .optional(),
})

export const CLIENTS = ['docker', 'containerd', 'podman'] as const
export type Client = (typeof CLIENTS)[number]

/** `GET /sites/{site}/client-config?client=&origin=`. */
export const ClientConfigQuery = strict({ client: oneOf(CLIENTS).optional(), origin: text(300, 1).optional() })

// ---- answers ----

export const HealthState = z.enum(['unknown', 'up', 'down'])

export const SiteStats = z.object({
  version: z.string(),
  diskUsedBytes: z.number(),
  diskFreeBytes: z.number(),
  capacityBytes: z.number(),
  hitRatio: z.number().nullable(),
  dockerMirror: z.string().nullable().optional(),
})

/** A site as the API shows it. */
export const SiteView = z.object({
  id: z.string(),
  name: z.string(),
  url: z.string().nullable(),
  region: z.string().nullable(),
  latitude: z.number().nullable(),
  longitude: z.number().nullable(),
  networks: z.array(z.string()),
  parent: z.string().nullable(),
  capacityBytes: z.number().nullable(),
  isDefault: z.boolean(),
  caCertificate: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  health: z.object({ state: HealthState, since: z.string().nullable(), lastHeartbeatAt: z.string().nullable() }),
  stats: SiteStats.nullable(),
})
export type SiteView = z.infer<typeof SiteView>

export const SiteList = z.object({ sites: z.array(SiteView) })

/** `GET /sites/{site}/health`: the state now and its history of changes. */
export const HealthView = z.object({
  state: HealthState,
  since: z.string().nullable(),
  lastHeartbeatAt: z.string().nullable(),
  history: z.array(z.object({ state: HealthState, at: z.string().nullable(), reason: z.string() })),
})
export type HealthView = z.infer<typeof HealthView>

export const JoinTokenView = z.object({
  id: z.string(),
  site: z.string().nullable(),
  expiresAt: z.string(),
  usesLeft: z.number(),
  createdAt: z.string(),
})
export type JoinTokenView = z.infer<typeof JoinTokenView>

/** The answer to `POST /join-tokens`: the only time the token's text is shown. */
export const JoinTokenCreated = JoinTokenView.omit({ createdAt: true }).extend({ token: z.string() })
export type JoinTokenCreated = z.infer<typeof JoinTokenCreated>

export const JoinTokenList = z.object({ joinTokens: z.array(JoinTokenView) })

export const NetworkView = z.object({
  id: z.string(),
  cidr: z.string(),
  latitude: z.number(),
  longitude: z.number(),
  label: z.string().nullable(),
})
export type NetworkView = z.infer<typeof NetworkView>

export const NetworkList = z.object({ networks: z.array(NetworkView) })

export const AssignmentKind = z.enum(['user', 'team', 'org'])

export const AssignmentView = z.object({ kind: AssignmentKind, subject: z.string(), site: z.string() })
export type AssignmentView = z.infer<typeof AssignmentView>

export const AssignmentList = z.object({ assignments: z.array(AssignmentView) })

export const Rule = z.enum(['user', 'team', 'org', 'network', 'geo', 'default', 'origin'])

/** The answer to a resolve: the site serving the caller (with its chain of parents), and the rule that chose it. */
export const Resolution = z.object({
  site: z.object({ id: z.string(), name: z.string(), url: z.string(), chain: z.array(z.string()) }).nullable(),
  rule: Rule,
  detail: z.string(),
})
export type Resolution = z.infer<typeof Resolution>

export const Counters = z.object({
  requests: z.number(),
  hits: z.number(),
  misses: z.number(),
  hitRatio: z.number().nullable(),
  bytesServed: z.number(),
  bytesFromUpstream: z.number(),
  originEgressSaved: z.number(),
})
export type Counters = z.infer<typeof Counters>

export const BandwidthReport = z.object({
  from: z.string(),
  to: z.string(),
  granularity: z.enum(['hour', 'day']),
  rows: z.array(Counters.extend({ period: z.string(), site: z.string(), repository: z.string() })),
  sites: z.array(Counters.extend({ site: z.string() })),
  topRepositories: z.array(Counters.extend({ repository: z.string() })),
})
export type BandwidthReport = z.infer<typeof BandwidthReport>

export const ClientFile = z.object({
  client: z.enum(CLIENTS),
  path: z.string(),
  content: z.string(),
  /** What the file does and does not do, for the operator. */
  note: z.string().optional(),
})

export const ClientConfig = z.object({
  site: z.object({ id: z.string(), name: z.string(), url: z.string() }),
  files: z.array(ClientFile),
  trust: z.array(z.string()),
})
export type ClientConfig = z.infer<typeof ClientConfig>
