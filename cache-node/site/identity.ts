import { open, readFile, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'

/** What joining gave this node, kept in `<dataDir>/site.json` (mode 0600: the credential is a secret). */
export interface SiteIdentity {
  siteId: string
  siteName: string
  /** `wharf_site_<siteId>_<secret>`: authenticates heartbeats and usage batches. */
  credential: string
  /** The control plane this identity belongs to (`CACHE_CONTROL_PLANE_URL`, normalized). */
  controlPlaneUrl: string
}

export const SITE_FILE = 'site.json'

/** A site id as it may appear in a URL path and a batch id. */
const SITE_ID_RE = /^[A-Za-z0-9_-]{1,64}$/

export function isSiteId(v: unknown): v is string {
  return typeof v === 'string' && SITE_ID_RE.test(v)
}

/**
 * Reads the stored identity. Answers `undefined` when there is none, and `{other}` when the file holds an identity
 * for another control plane (joining this one needs a join token). A file that cannot be parsed is an error: it is
 * never silently replaced, since it holds the only copy of the site's credential.
 */
export async function loadSiteIdentity(
  dataDir: string,
  controlPlaneUrl: string,
): Promise<{ identity: SiteIdentity } | { other: string } | undefined> {
  const file = join(dataDir, SITE_FILE)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  let doc: Partial<SiteIdentity>
  try {
    doc = JSON.parse(text) as Partial<SiteIdentity>
  } catch {
    throw new Error(`${file} is not valid JSON; remove it (and set CACHE_JOIN_TOKEN) to join the control plane again`)
  }
  if (
    !isSiteId(doc.siteId) ||
    typeof doc.siteName !== 'string' ||
    typeof doc.credential !== 'string' ||
    typeof doc.controlPlaneUrl !== 'string'
  ) {
    throw new Error(
      `${file} does not hold {siteId, siteName, credential, controlPlaneUrl}; remove it (and set CACHE_JOIN_TOKEN) to join the control plane again`,
    )
  }
  if (doc.controlPlaneUrl !== controlPlaneUrl) return { other: doc.controlPlaneUrl }
  return {
    identity: {
      siteId: doc.siteId,
      siteName: doc.siteName,
      credential: doc.credential,
      controlPlaneUrl: doc.controlPlaneUrl,
    },
  }
}

/** Writes the identity atomically (a temporary file, synced, then renamed over site.json), readable by the owner only. */
export async function saveSiteIdentity(dataDir: string, identity: SiteIdentity): Promise<void> {
  const file = join(dataDir, SITE_FILE)
  const tmp = `${file}.${process.pid}.tmp`
  const fh = await open(tmp, 'w', 0o600)
  try {
    await fh.chmod(0o600)
    await fh.writeFile(`${JSON.stringify(identity, null, 2)}\n`)
    await fh.sync()
  } catch (err) {
    await fh.close()
    await rm(tmp, { force: true })
    throw err
  }
  await fh.close()
  await rename(tmp, file)
  // the rename itself reaches the disk with the folder
  const dir = await open(dataDir, 'r')
  try {
    await dir.sync()
  } catch {
    // some file systems cannot sync a folder; the rename is still atomic
  } finally {
    await dir.close()
  }
}
