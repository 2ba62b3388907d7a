import { decodeProtectedHeader, jwtVerify, type CryptoKey, type JWTPayload } from 'jose'

/** Seconds of clock skew tolerated on `exp`, `nbf` and `iat`, wherever a Wharf JWT is checked. */
export const JWT_CLOCK_TOLERANCE_S = 5

/** A token that cannot be checked at all: no key id, an algorithm not accepted, a key nobody publishes. */
export class UnverifiableToken extends Error {
  readonly code = 'ERR_UNVERIFIABLE_TOKEN'
}

export interface JwtCheck {
  /** The public key for a key id and algorithm, if the verifier trusts one (a key ring, an origin's JWKS). */
  key: (kid: string, alg: string) => Promise<CryptoKey | undefined>
  /** Algorithms accepted; asymmetric only, so that a published key can never mint. */
  algorithms: readonly string[]
  issuer: string
  audience: string
  /** Milliseconds since the epoch. */
  now: number
  /** Claims that must be present (default `exp`). */
  requiredClaims?: string[]
}

/**
 * The one JWT check of the three programs (registry tokens, blob grants, service tokens; at the origin, the cache
 * and the control plane): the header's key id and algorithm pick a trusted key, then jose checks the signature,
 * issuer, audience and lifetime with JWT_CLOCK_TOLERANCE_S of skew. Throws UnverifiableToken when no key applies,
 * else jose's errors, whose `code` says which check failed (ERR_JWT_EXPIRED, ERR_JWS_SIGNATURE_VERIFICATION_FAILED,
 * ERR_JWT_CLAIM_VALIDATION_FAILED with `claim`).
 */
export async function verifyJwt(token: string, check: JwtCheck): Promise<JWTPayload> {
  let header: { kid?: unknown; alg?: unknown }
  try {
    header = decodeProtectedHeader(token)
  } catch (err) {
    throw new UnverifiableToken('not a JWT', { cause: err })
  }
  const { kid, alg } = header
  if (typeof kid !== 'string' || typeof alg !== 'string') throw new UnverifiableToken('no key id or algorithm')
  if (!check.algorithms.includes(alg)) throw new UnverifiableToken(`algorithm ${alg} is not accepted here`)
  const key = await check.key(kid, alg)
  if (!key) throw new UnverifiableToken('signed with a key that is not trusted here')
  const { payload } = await jwtVerify(token, key, {
    algorithms: [alg],
    issuer: check.issuer,
    audience: check.audience,
    clockTolerance: JWT_CLOCK_TOLERANCE_S,
    currentDate: new Date(check.now),
    requiredClaims: check.requiredClaims ?? ['exp'],
  })
  return payload
}
