import { badRequest } from '../../lib/api-error.ts'
import type { SiteRecord } from '../storage/sites-store.ts'

import type { ClientConfig } from '../schemas.ts'

export { CLIENTS, type Client, type ClientConfig } from '../schemas.ts'
export type ClientFile = ClientConfig['files'][number]

const DOCKER_HUB = 'docker.io'

const HOST_RE = /^(\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?)(:\d{1,5})?$/

/** Checks `?origin=<host[:port]>`. */
export function parseOriginHost(v: string): string {
  if (!HOST_RE.test(v)) throw badRequest(`origin must be a host or host:port such as registry.example.com (got "${v}")`)
  return v.toLowerCase()
}

/**
 * Client configuration that sends pulls of `originHost` to the site: docker's daemon.json, containerd's hosts.toml
 * and podman's registries.conf.d drop-in, with the steps to trust the site's certificate (or to allow plain HTTP).
 * `originScheme` is the scheme of containerd's `server` (the origin's own).
 */
export function clientConfig(site: SiteRecord, originHost: string, originScheme: 'http' | 'https'): ClientConfig {
  if (!site.url) throw badRequest(`site ${site.name} has no url yet: set one, or let a node join as it`)
  const siteUrl = new URL(site.url)
  const siteHost = siteUrl.host
  const https = siteUrl.protocol === 'https:'
  const ca = https && site.caCertificate !== null
  const containerdCa = `/etc/containerd/certs.d/${originHost}/${siteHost}-ca.crt`

  // docker's registry-mirrors only ever asks a mirror for Docker Hub images: offer the site as one only when its
  // node says (in its heartbeats) that it answers them from a docker.io upstream (CACHE_DOCKER_MIRROR=docker.io)
  const mirrorsHub = site.stats?.dockerMirror === DOCKER_HUB
  const daemon: Record<string, unknown> = mirrorsHub ? { 'registry-mirrors': [site.url] } : {}
  if (!https) daemon['insecure-registries'] = [siteHost]
  const hosts = [
    `server = "${originScheme}://${originHost}"`,
    '',
    `[host."${site.url}"]`,
    '  capabilities = ["pull", "resolve"]',
    ...(ca ? [`  ca = "${containerdCa}"`] : []),
    '',
  ].join('\n')
  const podman = [
    '[[registry]]',
    `location = "${originHost}"`,
    '',
    '[[registry.mirror]]',
    `location = "${siteHost}"`,
    ...(https ? [] : ['insecure = true']),
    '',
  ].join('\n')

  const files: ClientFile[] = [
    {
      client: 'docker',
      path: '/etc/docker/daemon.json',
      content: `${JSON.stringify(daemon, null, 2)}\n`,
      note: `${
        mirrorsHub
          ? "docker's registry-mirrors applies only to Docker Hub images."
          : `no registry-mirrors: ${site.name} has not said it mirrors Docker Hub (its node needs CACHE_UPSTREAMS=docker.io=https://registry-1.docker.io and CACHE_DOCKER_MIRROR=docker.io, and a heartbeat since).`
      } Pulls from ${originHost} are redirected to ${site.name} by the origin automatically. Merge these keys into an existing daemon.json and restart dockerd.`,
    },
    {
      client: 'containerd',
      path: `/etc/containerd/certs.d/${originHost}/hosts.toml`,
      content: hosts,
      note: 'needs config_path = "/etc/containerd/certs.d" in the CRI registry section of containerd\'s config.toml',
    },
    {
      client: 'podman',
      path: `/etc/containers/registries.conf.d/wharf-${site.name}.conf`,
      content: podman,
    },
  ]

  const trust: string[] = []
  if (ca) {
    trust.push(
      `docker: save the site's CA certificate (caCertificate of GET /api/v0/sites/${site.name}) as /etc/docker/certs.d/${siteHost}/ca.crt`,
      `containerd: save the site's CA certificate as ${containerdCa}`,
      `podman: save the site's CA certificate as /etc/containers/certs.d/${siteHost}/ca.crt`,
    )
  } else if (https) {
    trust.push(`${site.url} uses a certificate the system already trusts: nothing to install`)
  } else {
    trust.push(
      `docker: ${siteHost} serves plain HTTP; the daemon.json above lists it in insecure-registries`,
      `containerd: the hosts.toml names ${site.url} with its http:// scheme, which containerd uses as is`,
      `podman: the mirror entry above sets insecure = true for ${siteHost}`,
    )
  }
  return { site: { id: site.id, name: site.name, url: site.url }, files, trust }
}
