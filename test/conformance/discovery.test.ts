/**
 * OCI conformance, Content Discovery workflow: distribution-spec v1.1.1 conformance/03_discovery_test.go (tags
 * list with `n` and `last`, the referrers API with its five referrers, artifactType filter and missing subject,
 * OCI-Subject on push) plus the rewritten suite's empty-repository checks, index subjects, and pagination by Link.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeHttp, http, type HttpResult } from '../helpers/registry-http.ts'
import {
  CF_LAYER,
  EMPTY_JSON_DIGEST,
  MT,
  cfManifest,
  content,
  descriptor,
  digestOf,
  expectOciError,
  imageConfig,
  imageIndex,
  imageManifest,
  json,
  manifestDescriptor,
  pushBlob,
  pushImage,
  pushManifest,
  putManifest,
  repoName,
  resolveLocation,
  v2url,
  type Descriptor,
  type ManifestDoc,
} from '../helpers/oci-fixtures.ts'
import { startOrigin } from '../helpers/start-origin.ts'

let origin: Awaited<ReturnType<typeof startOrigin>>
let base: string

beforeAll(async () => {
  origin = await startOrigin()
  base = origin.url
})

afterAll(async () => {
  if (!origin) return
  await closeHttp(origin.url)
  await origin.close()
})

interface TagList {
  name: string
  tags: string[]
}
interface ReferrersIndex {
  schemaVersion: number
  mediaType: string
  manifests: (Descriptor & { artifactType?: string; annotations?: Record<string, string> })[]
}

const tagsList = (repo: string, query: Record<string, string> = {}) => http('GET', v2url(base, `${repo}/tags/list`, query))
const referrers = (repo: string, digest: string, query: Record<string, string> = {}) =>
  http('GET', v2url(base, `${repo}/referrers/${digest}`, query))

/** Docker's reading of a Link header: Trim(Split(link, ";")[0], "<>"). */
function nextLink(res: HttpResult): string | undefined {
  const link = res.headers.link
  if (link === undefined) return undefined
  expect(link).toMatch(/^<[^>]+>; rel="next"$/)
  return link.split(';')[0]!.trim().replace(/^<|>$/g, '')
}

/** A referrers response: 200, the index media type as Content-Type, and a valid image index body. */
function expectReferrers(res: HttpResult): ReferrersIndex {
  expect(res.status).toBe(200)
  expect(res.headers['content-type']).toBe(MT.ociIndex)
  const body = json<ReferrersIndex>(res)
  expect(body.schemaVersion).toBe(2)
  expect(body.mediaType).toBe(MT.ociIndex)
  expect(Array.isArray(body.manifests)).toBe(true)
  return body
}

describe('listing tags (CF "Test content discovery endpoints (listing tags)")', () => {
  const repo = repoName('disc-tags')
  const numTags = 4
  let tagList: string[] = []

  beforeAll(async () => {
    const config = imageConfig()
    await pushBlob(base, repo, config)
    await pushBlob(base, repo, CF_LAYER)
    const m = cfManifest(config)
    for (let i = 0; i < numTags; i++) await pushManifest(base, repo, `test${i}`, m)
  })

  it('GET tags/list is 200 with the repository name and every tag, sorted', async () => {
    const res = await tagsList(repo)
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toMatch(/^application\/json\b/)
    const body = json<TagList>(res)
    expect(body).toEqual({ name: repo, tags: ['test0', 'test1', 'test2', 'test3'] })
    expect(res.headers.link).toBeUndefined()
    tagList = body.tags
  })

  it('`n` limits the number of results to exactly n, with a Link to the rest', async () => {
    const n = numTags / 2
    const res = await tagsList(repo, { n: String(n) })
    expect(res.status).toBe(200)
    expect(json<TagList>(res).tags).toEqual(tagList.slice(0, n))
    expect(nextLink(res)).toBe(`/v2/${repo}/tags/list?n=${n}&last=${tagList[n - 1]}`)
  })

  it('`last` starts the list after the given tag (exclusive)', async () => {
    const n = numTags / 2
    const first = json<TagList>(await tagsList(repo, { n: String(n) })).tags
    const res = await tagsList(repo, { n: String(n), last: first[n - 1]! })
    expect(res.status).toBe(200)
    const second = json<TagList>(res).tags
    expect(second).toEqual(tagList.slice(n, 2 * n))
    expect(second).not.toContain(first[n - 1])
    // the second page reaches the end: no Link
    expect(res.headers.link).toBeUndefined()
  })

  it('`last` alone (CF2): every tag after it, none before', async () => {
    const sorted = [...tagList].sort()
    const end = sorted.length / 2
    const res = await tagsList(repo, { last: sorted[end - 1]! })
    expect(json<TagList>(res).tags).toEqual(sorted.slice(end))
  })

  it('n=0 gives an empty list and no Link', async () => {
    const res = await tagsList(repo, { n: '0' })
    expect(res.status).toBe(200)
    expect(json<TagList>(res)).toEqual({ name: repo, tags: [] })
    expect(res.headers.link).toBeUndefined()
  })

  it('n larger than the number of tags gives them all and no Link', async () => {
    const res = await tagsList(repo, { n: '100' })
    expect(json<TagList>(res).tags).toEqual(tagList)
    expect(res.headers.link).toBeUndefined()
  })

  it('a `last` past every tag gives an empty list', async () => {
    const res = await tagsList(repo, { last: 'zzzz' })
    expect(res.status).toBe(200)
    expect(json<TagList>(res).tags).toEqual([])
  })
})

describe('tag order and pagination by Link', () => {
  const repo = repoName('disc-pages')
  // ASCII order puts digits before upper case before "_" before lower case
  const tags = ['latest', 'v1.0', 'v1.10', 'v1.2', 'V2', '_private', '0.1', 'a-b', 'a_b', 'a.b', 'Z', 'z']

  beforeAll(async () => {
    const img = await pushImage(base, repo)
    for (const t of tags) await pushManifest(base, repo, t, img.manifest)
  })

  it('tags come back in lexical (ASCII) order', async () => {
    const body = json<TagList>(await tagsList(repo))
    expect(body.tags).toEqual([...tags].sort())
  })

  it('following Link pages with n=5 visits every tag exactly once, in order', async () => {
    const seen: string[] = []
    let url: string | undefined = v2url(base, `${repo}/tags/list`, { n: '5' })
    let pages = 0
    while (url !== undefined) {
      const res = await http('GET', url)
      expect(res.status).toBe(200)
      const page = json<TagList>(res).tags
      expect(page.length).toBeLessThanOrEqual(5)
      seen.push(...page)
      const next = nextLink(res)
      url = next === undefined ? undefined : resolveLocation(base, next)
      pages++
      expect(pages).toBeLessThan(10)
    }
    expect(seen).toEqual([...tags].sort())
    expect(pages).toBe(Math.ceil(tags.length / 5))
  })
})

describe('tags list of empty and unknown repositories (CF2 "empty")', () => {
  it('a repository that does not exist → 404 NAME_UNKNOWN', async () => {
    expectOciError(await tagsList(repoName('disc-nothing')), 404, 'NAME_UNKNOWN')
  })

  it('a repository holding only blobs → 200 with an empty tags array', async () => {
    const repo = repoName('disc-blobs-only')
    await pushBlob(base, repo, imageConfig())
    const res = await tagsList(repo)
    expect(res.status).toBe(200)
    expect(json<TagList>(res)).toEqual({ name: repo, tags: [] })
  })

  it('a repository whose only manifest was pushed by digest → 200 with an empty tags array', async () => {
    const repo = repoName('disc-untagged')
    await pushImage(base, repo)
    expect(json<TagList>(await tagsList(repo))).toEqual({ name: repo, tags: [] })
  })
})

describe('listing referrers (CF "Test content discovery endpoints (listing references)")', () => {
  const repo = repoName('disc-referrers')
  const ANNOTATION = 'org.opencontainers.conformance.test'
  const TYPE_A = 'application/vnd.nhl.peanut.butter.bagel'
  const TYPE_B = 'application/vnd.nba.strawberry.jam.croissant'
  const TYPE_INDEX = 'application/vnd.food.stand'

  const emptyJson = content('{}')
  const emptyDesc = descriptor(emptyJson, MT.ociEmpty)
  const refBlobA = content('NHL Peanut Butter on my NHL bagel')
  const refBlobB = content('NBA Strawberry Jam on my NBA croissant')
  // CF's manifests[4] (the subject, pushed after some of its referrers) and manifests[3] (never pushed)
  const subjectConfig = imageConfig()
  const subject = cfManifest(subjectConfig)
  const missingSubject = cfManifest(imageConfig())
  const subjectDesc = manifestDescriptor(subject)

  const configArtifact = (blob: typeof refBlobA, type: string, note: string) =>
    imageManifest({
      config: descriptor(blob, type),
      subject: subjectDesc,
      layers: [emptyDesc],
      annotations: { [ANNOTATION]: note },
    })
  const layerArtifact = (blob: typeof refBlobA, type: string, subj: Descriptor, annotations?: Record<string, string>) =>
    imageManifest({ artifactType: type, config: emptyDesc, subject: subj, layers: [descriptor(blob, type)], annotations })

  const aConfig = configArtifact(refBlobA, TYPE_A, 'test config a')
  const aLayer = layerArtifact(refBlobA, TYPE_A, subjectDesc, { [ANNOTATION]: 'test layer a' })
  const refIndex = imageIndex({
    artifactType: TYPE_INDEX,
    manifests: [manifestDescriptor(aConfig), manifestDescriptor(aLayer)],
    subject: subjectDesc,
    annotations: { [ANNOTATION]: 'test index' },
  })
  const bConfig = configArtifact(refBlobB, TYPE_B, 'test config b')
  const bLayer = layerArtifact(refBlobB, TYPE_B, subjectDesc, { [ANNOTATION]: 'test layer b' })
  const cLayer = layerArtifact(refBlobB, TYPE_B, manifestDescriptor(missingSubject))

  const expected = new Map<string, { doc: ManifestDoc; artifactType: string; note: string }>([
    [aConfig.digest, { doc: aConfig, artifactType: TYPE_A, note: 'test config a' }],
    [aLayer.digest, { doc: aLayer, artifactType: TYPE_A, note: 'test layer a' }],
    [refIndex.digest, { doc: refIndex, artifactType: TYPE_INDEX, note: 'test index' }],
    [bConfig.digest, { doc: bConfig, artifactType: TYPE_B, note: 'test config b' }],
    [bLayer.digest, { doc: bLayer, artifactType: TYPE_B, note: 'test layer b' }],
  ])

  /** PUT by digest (as CF does) and check OCI-Subject. */
  async function pushReferrer(m: ManifestDoc, subjectDigest: string): Promise<void> {
    const res = await putManifest(base, repo, m.digest, m)
    expect(res.status, res.body.toString('utf8')).toBe(201)
    expect(res.headers['oci-subject']).toBe(subjectDigest)
    expect(res.headers['docker-content-digest']).toBe(m.digest)
  }

  beforeAll(async () => {
    expect(emptyJson.digest).toBe(EMPTY_JSON_DIGEST)
    await pushBlob(base, repo, emptyJson)
    await pushBlob(base, repo, refBlobA)
    // referrers pushed before their subject exists: the registry MUST accept them
    await pushReferrer(aConfig, subject.digest)
    await pushReferrer(aLayer, subject.digest)
    await pushReferrer(refIndex, subject.digest)
    await pushBlob(base, repo, subjectConfig)
    await pushBlob(base, repo, CF_LAYER)
    const put = await pushManifest(base, repo, 'tagtest0', subject)
    expect(put.headers['oci-subject']).toBeUndefined()
    await pushBlob(base, repo, refBlobB)
    await pushReferrer(bConfig, subject.digest)
    await pushReferrer(bLayer, subject.digest)
    await pushReferrer(cLayer, missingSubject.digest)
  })

  it('GET referrers of a digest nothing refers to → 200, index Content-Type, no manifests', async () => {
    const body = expectReferrers(await referrers(repo, digestOf('hello world')))
    expect(body.manifests).toEqual([])
  })

  it('GET referrers in a repository that does not exist → 200 with no manifests (never 404)', async () => {
    const body = expectReferrers(await referrers(repoName('disc-none'), digestOf('x')))
    expect(body.manifests).toEqual([])
  })

  it('GET referrers of the subject → its 5 referrers, each with mediaType, size, artifactType and its one annotation', async () => {
    const body = expectReferrers(await referrers(repo, subject.digest))
    expect(body.manifests).toHaveLength(5)
    expect(new Set(body.manifests.map((d) => d.digest)).size).toBe(5)
    for (const d of body.manifests) {
      const want = expected.get(d.digest)
      expect(want, `unexpected referrer ${d.digest}`).toBeDefined()
      expect(d.mediaType).toBe(want!.doc.mediaType)
      expect(d.size).toBe(want!.doc.size)
      expect(d.artifactType).toBe(want!.artifactType)
      expect(d.annotations).toEqual({ [ANNOTATION]: want!.note })
    }
  })

  it('the artifactType filter returns only matching referrers and says so in OCI-Filters-Applied', async () => {
    const res = await referrers(repo, subject.digest, { artifactType: TYPE_A })
    const body = expectReferrers(res)
    expect(res.headers['oci-filters-applied']).toBe('artifactType')
    expect(body.manifests.map((d) => d.digest).sort()).toEqual([aConfig.digest, aLayer.digest].sort())
    for (const d of body.manifests) expect(d.annotations).toEqual({ [ANNOTATION]: expected.get(d.digest)!.note })
  })

  it('filtering by the index artifactType finds the index', async () => {
    const body = expectReferrers(await referrers(repo, subject.digest, { artifactType: TYPE_INDEX }))
    expect(body.manifests.map((d) => d.digest)).toEqual([refIndex.digest])
    expect(body.manifests[0]!.mediaType).toBe(MT.ociIndex)
  })

  it('a filter nothing matches → empty list, header still set', async () => {
    const res = await referrers(repo, subject.digest, { artifactType: 'application/vnd.nothing' })
    expect(expectReferrers(res).manifests).toEqual([])
    expect(res.headers['oci-filters-applied']).toBe('artifactType')
  })

  it('without a filter there is no OCI-Filters-Applied header', async () => {
    const res = await referrers(repo, subject.digest)
    expect(res.status).toBe(200)
    expect(res.headers['oci-filters-applied']).toBeUndefined()
  })

  it('GET referrers of the missing subject → exactly the one referrer pushed for it', async () => {
    const body = expectReferrers(await referrers(repo, missingSubject.digest))
    expect(body.manifests).toHaveLength(1)
    expect(body.manifests[0]!.digest).toBe(cLayer.digest)
    expect(body.manifests[0]!.artifactType).toBe(TYPE_B)
    // it carries no annotations, so the descriptor has none
    expect(body.manifests[0]!.annotations).toBeUndefined()
  })

  it('referrers are per repository', async () => {
    const other = repoName('disc-referrers-other')
    await pushBlob(base, other, imageConfig())
    expect(expectReferrers(await referrers(other, subject.digest)).manifests).toEqual([])
  })

  it('an invalid digest → 400 with an OCI error code', async () => {
    expectOciError(await referrers(repo, 'sha256:baddigeststring'), 400, 'DIGEST_INVALID')
  })
})

describe('referrers: index subjects and deletion (CF2 "index-with-subject")', () => {
  const repo = repoName('disc-index-subject')

  it('an index with a subject gets OCI-Subject and is listed, with artifactType omitted when it has none', async () => {
    const img = await pushImage(base, repo)
    const subjectIndex = imageIndex({ manifests: [manifestDescriptor(img.manifest)] })
    await pushManifest(base, repo, 'index', subjectIndex)
    const plainIndex = imageIndex({ manifests: [manifestDescriptor(img.manifest)], subject: manifestDescriptor(subjectIndex) })
    const res = await putManifest(base, repo, plainIndex.digest, plainIndex)
    expect(res.status).toBe(201)
    expect(res.headers['oci-subject']).toBe(subjectIndex.digest)

    const empty = content('{}')
    await pushBlob(base, repo, empty)
    const artifact = imageManifest({
      artifactType: 'application/vnd.example.sbom',
      config: descriptor(empty, MT.ociEmpty),
      layers: [descriptor(empty, MT.ociEmpty)],
      subject: manifestDescriptor(subjectIndex),
      annotations: { 'org.opencontainers.conformance': 'hello conformance test' },
    })
    const put = await putManifest(base, repo, 'tagged-artifact', artifact)
    expect(put.status).toBe(201)
    expect(put.headers['oci-subject']).toBe(subjectIndex.digest)

    const body = expectReferrers(await referrers(repo, subjectIndex.digest))
    const byDigest = new Map(body.manifests.map((d) => [d.digest, d]))
    expect(byDigest.size).toBe(2)
    expect(byDigest.get(plainIndex.digest)).toEqual({ mediaType: MT.ociIndex, digest: plainIndex.digest, size: plainIndex.size })
    expect(byDigest.get(artifact.digest)).toEqual({
      mediaType: MT.ociManifest,
      digest: artifact.digest,
      size: artifact.size,
      artifactType: 'application/vnd.example.sbom',
      annotations: { 'org.opencontainers.conformance': 'hello conformance test' },
    })
  })

  it('a deleted referrer disappears from the list', async () => {
    const img = await pushImage(base, repo)
    const empty = content('{}')
    await pushBlob(base, repo, empty)
    const ref = imageManifest({
      artifactType: 'application/vnd.example.sig',
      config: descriptor(empty, MT.ociEmpty),
      layers: [descriptor(empty, MT.ociEmpty)],
      subject: manifestDescriptor(img.manifest),
    })
    await pushManifest(base, repo, ref.digest, ref)
    expect(expectReferrers(await referrers(repo, img.manifest.digest)).manifests.map((d) => d.digest)).toEqual([ref.digest])
    expect((await http('DELETE', v2url(base, `${repo}/manifests/${ref.digest}`))).status).toBe(202)
    expect(expectReferrers(await referrers(repo, img.manifest.digest)).manifests).toEqual([])
  })

  it('a manifest without subject gets no OCI-Subject header', async () => {
    const img = await pushImage(base, repo, { manifest: { annotations: { plain: 'yes' } } })
    const again = await putManifest(base, repo, 'plain', img.manifest)
    expect(again.status).toBe(201)
    expect(again.headers['oci-subject']).toBeUndefined()
  })
})

describe('catalog (Docker API, not part of OCI)', () => {
  it('lists repositories in order and pages with n/last and a Link', async () => {
    const names = [repoName('cat-a'), repoName('cat-b'), repoName('cat-c')].sort()
    for (const n of names) await pushBlob(base, n, imageConfig())
    const all = json<{ repositories: string[] }>(await http('GET', `${base}/v2/_catalog?n=1000`)).repositories
    expect(all).toEqual([...all].sort())
    expect(all).toEqual(expect.arrayContaining(names))
    const page = await http('GET', `${base}/v2/_catalog?n=1&last=${encodeURIComponent(names[0]!)}`)
    expect(page.status).toBe(200)
    expect(json<{ repositories: string[] }>(page).repositories).toEqual([all[all.indexOf(names[0]!) + 1]])
    expect(nextLink(page)).toMatch(/^\/v2\/_catalog\?n=1&last=/)
  })
})
