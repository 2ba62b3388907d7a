import { SignJWT, generateKeyPair, type CryptoKey } from 'jose'
import { describe, expect, it } from 'vitest'
import { UnverifiableToken, verifyJwt } from './jwt.ts'

const NOW = Date.UTC(2026, 0, 1)

async function setup() {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
  const keys = new Map<string, CryptoKey>([['k1', publicKey]])
  const sign = (
    claims: Record<string, unknown> = {},
    o: { kid?: string; exp?: number; iss?: string; aud?: string } = {},
  ) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: o.kid ?? 'k1' })
      .setIssuer(o.iss ?? 'https://origin')
      .setAudience(o.aud ?? 'svc')
      .setIssuedAt(NOW / 1000)
      .setExpirationTime(o.exp ?? NOW / 1000 + 60)
      .sign(privateKey)
  const check = {
    key: async (kid: string) => keys.get(kid),
    algorithms: ['ES256'],
    issuer: 'https://origin',
    audience: 'svc',
    now: NOW,
  }
  return { sign, check }
}

describe('verifyJwt', () => {
  it('accepts a token of a trusted key and returns its claims', async () => {
    const { sign, check } = await setup()
    expect((await verifyJwt(await sign({ a: 1 }), check)).a).toBe(1)
  })

  it('refuses an unknown key id, an algorithm not accepted and a non-JWT as unverifiable', async () => {
    const { sign, check } = await setup()
    await expect(verifyJwt(await sign({}, { kid: 'other' }), check)).rejects.toBeInstanceOf(UnverifiableToken)
    await expect(verifyJwt(await sign(), { ...check, algorithms: ['RS256'] })).rejects.toBeInstanceOf(UnverifiableToken)
    await expect(verifyJwt('garbage', check)).rejects.toBeInstanceOf(UnverifiableToken)
  })

  it('refuses another issuer, another audience and an expired token, with 5 s of skew', async () => {
    const { sign, check } = await setup()
    await expect(verifyJwt(await sign({}, { iss: 'https://evil' }), check)).rejects.toMatchObject({ claim: 'iss' })
    await expect(verifyJwt(await sign({}, { aud: 'wharf-blob-grant' }), check)).rejects.toMatchObject({ claim: 'aud' })
    const exp = NOW / 1000 - 3
    await expect(verifyJwt(await sign({}, { exp }), check)).resolves.toBeTruthy()
    await expect(verifyJwt(await sign({}, { exp }), { ...check, now: NOW + 3000 })).rejects.toMatchObject({
      code: 'ERR_JWT_EXPIRED',
    })
  })

  it('refuses a signature by another key under a trusted key id', async () => {
    const { check } = await setup()
    const { privateKey: other } = await generateKeyPair('ES256', { extractable: true })
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('https://origin')
      .setAudience('svc')
      .setExpirationTime(NOW / 1000 + 60)
      .sign(other)
    await expect(verifyJwt(forged, check)).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' })
  })
})
