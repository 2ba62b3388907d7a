import { describe, expect, it } from 'vitest'
import { parseBearerChallenge } from './challenge.ts'
import { bearerChallenge } from './scope.ts'

describe('parseBearerChallenge', () => {
  it('reads what bearerChallenge writes', () => {
    const header = bearerChallenge({
      realm: 'https://o.example/auth/token',
      service: 'o.example',
      scope: 'repository:a/b:pull',
      error: 'invalid_token',
    })
    expect(parseBearerChallenge(header)).toEqual({
      realm: 'https://o.example/auth/token',
      service: 'o.example',
      scope: 'repository:a/b:pull',
      error: 'invalid_token',
    })
  })

  it("reads Docker Hub's challenge and bare or escaped values", () => {
    expect(
      parseBearerChallenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      ),
    ).toMatchObject({
      realm: 'https://auth.docker.io/token',
      service: 'registry.docker.io',
      scope: 'repository:library/busybox:pull',
    })
    expect(parseBearerChallenge('Bearer realm=https://r.example/t, service=r')).toMatchObject({
      realm: 'https://r.example/t',
      service: 'r',
    })
    expect(parseBearerChallenge('Bearer realm="a\\"b"')?.realm).toBe('a"b')
  })

  it('skips Basic challenges and challenges without a realm', () => {
    expect(parseBearerChallenge('Basic realm="x"')).toBeUndefined()
    expect(parseBearerChallenge('Bearer service="x"')).toBeUndefined()
    expect(parseBearerChallenge(['Basic realm="x"', 'Bearer realm="https://t"'])?.realm).toBe('https://t')
    expect(parseBearerChallenge(undefined)).toBeUndefined()
  })
})
