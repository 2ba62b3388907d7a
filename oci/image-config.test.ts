import { describe, expect, it } from 'vitest'
import { alignHistory, dockerfileLine, parseImageConfig } from './image-config.ts'
import type { Descriptor } from './manifest.ts'

const layer = (n: number): Descriptor => ({
  mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
  digest: `sha256:${String(n).repeat(64).slice(0, 64)}`,
  size: n * 100,
})

describe('dockerfileLine', () => {
  it('reads the classic builder, BuildKit and plain forms', () => {
    expect(dockerfileLine('/bin/sh -c #(nop)  ENV A=b')).toBe('ENV A=b')
    expect(dockerfileLine('/bin/sh -c #(nop) COPY file:abc in /app ')).toBe('COPY file:abc in /app')
    expect(dockerfileLine('/bin/sh -c apt-get update && apt-get install -y curl')).toBe(
      'RUN apt-get update && apt-get install -y curl',
    )
    expect(dockerfileLine('RUN /bin/sh -c echo hi > /x # buildkit')).toBe('RUN echo hi > /x')
    expect(dockerfileLine('RUN |2 A=1 B=2 /bin/sh -c make # buildkit')).toBe('RUN make')
    expect(dockerfileLine('COPY app.js /app/ # buildkit')).toBe('COPY app.js /app/')
    expect(dockerfileLine('ENV X=1')).toBe('ENV X=1')
  })
})

describe('alignHistory', () => {
  it('gives each history entry without empty_layer the next layer, in order', () => {
    const history = [
      { createdBy: '/bin/sh -c #(nop) ADD file:1 in / ', created: null, comment: null, emptyLayer: false },
      { createdBy: '/bin/sh -c #(nop)  CMD ["sh"]', created: null, comment: null, emptyLayer: true },
      { createdBy: '/bin/sh -c #(nop)  ENV A=1', created: null, comment: null, emptyLayer: true },
      { createdBy: '/bin/sh -c echo a > /a', created: null, comment: null, emptyLayer: false },
      { createdBy: '/bin/sh -c #(nop) COPY file:2 in /b ', created: null, comment: null, emptyLayer: false },
    ]
    const steps = alignHistory(history, [layer(1), layer(2), layer(3)])
    expect(steps.map((s) => [s.line, s.layer?.digest.slice(7, 8)])).toEqual([
      ['ADD file:1 in /', '1'],
      ['CMD ["sh"]', undefined],
      ['ENV A=1', undefined],
      ['RUN echo a > /a', '2'],
      ['COPY file:2 in /b', '3'],
    ])
  })

  it('keeps layers without history, and history beyond the layers, visible', () => {
    expect(alignHistory([], [layer(1)]).map((s) => [s.line, s.layer?.size])).toEqual([[null, 100]])
    const more = alignHistory(
      [
        { createdBy: 'RUN a', created: null, comment: null, emptyLayer: false },
        { createdBy: 'RUN b', created: null, comment: null, emptyLayer: false },
      ],
      [layer(1)],
    )
    expect(more.map((s) => [s.line, s.layer?.size])).toEqual([
      ['RUN a', 100],
      ['RUN b', undefined],
    ])
  })
})

describe('parseImageConfig', () => {
  it('reads what a person wants to see, and nothing of another type', () => {
    const config = {
      architecture: 'amd64',
      os: 'linux',
      created: '2026-01-01T00:00:00Z',
      config: {
        Env: ['PATH=/bin', 7],
        Entrypoint: ['/app'],
        Cmd: null,
        ExposedPorts: { '80/tcp': {} },
        Labels: { a: '<b>', n: 1 },
        User: 'app',
        WorkingDir: '/srv',
      },
      history: [{ created_by: 'RUN x', empty_layer: true }, 'junk'],
    }
    const parsed = parseImageConfig(Buffer.from(JSON.stringify(config)))!
    expect(parsed.summary).toMatchObject({
      architecture: 'amd64',
      os: 'linux',
      env: ['PATH=/bin'],
      entrypoint: ['/app'],
      cmd: null,
      exposedPorts: ['80/tcp'],
      labels: { a: '<b>' },
      user: 'app',
      workingDir: '/srv',
    })
    expect(parsed.history).toEqual([{ createdBy: 'RUN x', created: null, comment: null, emptyLayer: true }])
    expect(parseImageConfig(Buffer.from('not json'))).toBeNull()
    expect(parseImageConfig(Buffer.from('[1]'))).toBeNull()
  })
})
