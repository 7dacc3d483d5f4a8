import { createHash, timingSafeEqual } from 'node:crypto'

/** A PKCE transformation (RFC 7636 §4.2). */
export type PkceMethod = 'plain' | 'S256'

/** The challenge a code is bound to. */
export interface PkceChallenge {
  challenge: string
  method: PkceMethod
}

// RFC 7636 §4.1: code-verifier = 43*128unreserved, unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~".
// A plain challenge is the verifier itself and an S256 one is 43 base64url characters, so the
// same rule checks both.
const PKCE_VALUE = /^[A-Za-z0-9\-._~]{43,128}$/

/** Whether a challenge or verifier is well formed per RFC 7636. */
export function isWellFormedPkceValue(value: string): boolean {
  return PKCE_VALUE.test(value)
}

/** The outcome of reading PKCE parameters from an authorization request. */
export type PkceReading = { ok: true; pkce: PkceChallenge | undefined } | { ok: false; hint: string }

/** Reads `code_challenge` and `code_challenge_method` from an authorization request. */
export function readPkceChallenge(challenge: string | undefined, method: string | undefined): PkceReading {
  if (challenge === undefined || challenge === '') {
    if (method === undefined || method === '') return { ok: true, pkce: undefined }
    return { ok: false, hint: 'The code_challenge_method was given without a code_challenge.' }
  }
  // The seed: "When code_challenge_method parameter is omitted, the authorization server assumes plain".
  const chosen = method === undefined || method === '' ? 'plain' : method
  if (chosen !== 'plain' && chosen !== 'S256') {
    return { ok: false, hint: 'The code_challenge_method is not supported, use S256 or plain.' }
  }
  if (!isWellFormedPkceValue(challenge)) {
    return { ok: false, hint: 'The code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~] (RFC 7636).' }
  }
  return { ok: true, pkce: { challenge, method: chosen } }
}

/** Whether a verifier answers the challenge, compared in constant time. */
export function verifierMatches(pkce: PkceChallenge, verifier: string): boolean {
  const derived = pkce.method === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier
  const a = createHash('sha256').update(derived).digest()
  const b = createHash('sha256').update(pkce.challenge).digest()
  return timingSafeEqual(a, b)
}
