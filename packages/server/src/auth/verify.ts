// JWT verification with `jose`: picks the key by algorithm, and turns every failure into one documented code.
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type KeyObject } from 'jose';
import { ErrorCode } from '@switchboard/protocol';
import type { Identity, ResolvedAuthOptions } from './options.ts';

/** The outcome of checking credentials: an identity, or the error code and message the client gets. */
export type Verified = { ok: true; identity: Identity } | { ok: false; code: ErrorCode; message: string; cause?: unknown };

/** Tokens longer than this are refused unparsed; real JWTs are a few hundred bytes to a few KiB. */
const MAX_TOKEN_LENGTH = 16 * 1024;

function failure(code: ErrorCode, message: string, cause?: unknown): Verified {
  return { ok: false, code, message, cause };
}

function joseCode(error: unknown): string {
  return typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : '';
}

/** jose's error → our code. Signature failures are handled by the caller (it may try another key). */
function mapJoseError(error: unknown): Verified {
  const code = joseCode(error);
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return failure(ErrorCode.tokenExpired, 'the token has expired');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const claim = (error as { claim?: string }).claim;
      if (claim === 'nbf') return failure(ErrorCode.tokenExpired, 'the token is not valid yet (nbf)');
      return failure(ErrorCode.tokenInvalid, `the token's "${claim ?? '?'}" claim is not accepted: ${(error as Error).message}`);
    }
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return failure(ErrorCode.tokenInvalid, 'the token signature does not verify');
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return failure(ErrorCode.tokenMalformed, `the token is not a valid JWT: ${(error as Error).message}`);
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return failure(ErrorCode.tokenAlgorithm, `the token's algorithm is not accepted: ${(error as Error).message}`);
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JWKS_INVALID':
    default:
      // A JWKS endpoint that is down or serves garbage is the server's problem, not the token's.
      return failure(ErrorCode.authFailed, 'the token could not be checked; try again later', error);
  }
}

/** Builds the identity from verified claims, or says which claim is wrong. */
function identityOf(payload: JWTPayload, options: ResolvedAuthOptions): Verified {
  if (typeof payload.sub !== 'string' || payload.sub.length === 0) {
    return failure(ErrorCode.tokenInvalid, 'the token has no "sub" claim naming the identity');
  }
  const rawGrants = payload[options.grantsClaim];
  let grants: string[];
  if (rawGrants === undefined) grants = [];
  else if (typeof rawGrants === 'string') grants = rawGrants.split(/\s+/).filter((grant) => grant.length > 0);
  else if (Array.isArray(rawGrants) && rawGrants.every((grant) => typeof grant === 'string')) grants = rawGrants as string[];
  else return failure(ErrorCode.tokenInvalid, `the token's "${options.grantsClaim}" claim must be an array of strings`);
  const rawInfo = payload[options.infoClaim];
  if (rawInfo !== undefined && (typeof rawInfo !== 'object' || rawInfo === null || Array.isArray(rawInfo))) {
    return failure(ErrorCode.tokenInvalid, `the token's "${options.infoClaim}" claim must be an object`);
  }
  const identity: Identity = { id: payload.sub, grants };
  if (rawInfo !== undefined) identity.info = rawInfo as Record<string, unknown>;
  if (typeof payload.exp === 'number') identity.expiresAt = payload.exp * 1000;
  return { ok: true, identity };
}

/**
 * A token verifier for the configured keys: HS256 with `secret`, the asymmetric algorithms with `publicKeys`
 * and `jwksUrl`. `alg: none` and algorithms outside `algorithms` are refused before any key is tried.
 *
 * @example
 * const verify = createVerifier(resolveAuthOptions({ secret }));
 * const result = await verify(token);
 * if (!result.ok) console.log(result.code); // 'token_expired'
 */
export function createVerifier(options: ResolvedAuthOptions): (token: string) => Promise<Verified> {
  const remote: JWTVerifyGetKey | undefined = options.jwksUrl ? createRemoteJWKSet(options.jwksUrl) : undefined;
  const claims = { issuer: options.issuer, audience: options.audience };

  async function verifyWithRemote(token: string, alg: string): Promise<Verified> {
    try {
      const { payload } = await jwtVerify(token, remote!, { ...claims, algorithms: [alg] });
      return identityOf(payload, options);
    } catch (error) {
      if (joseCode(error) !== 'ERR_JWKS_MULTIPLE_MATCHING_KEYS') return mapJoseError(error);
      // Several keys fit the header (no kid): jose hands them out one by one; the first that verifies wins.
      let last: Verified = failure(ErrorCode.tokenInvalid, 'the token signature does not verify');
      for await (const key of error as AsyncIterable<CryptoKey>) {
        try {
          const { payload } = await jwtVerify(token, key, { ...claims, algorithms: [alg] });
          return identityOf(payload, options);
        } catch (inner) {
          last = mapJoseError(inner);
          if (joseCode(inner) !== 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') return last;
        }
      }
      return last;
    }
  }

  return async function verify(token: string): Promise<Verified> {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
      return failure(ErrorCode.tokenMalformed, `the token must be a non-empty string of at most ${MAX_TOKEN_LENGTH} characters`);
    }
    if (token.split('.').length !== 3) return failure(ErrorCode.tokenMalformed, 'the token is not a JWT (header.payload.signature)');
    let alg: unknown;
    let kid: unknown;
    try {
      ({ alg, kid } = decodeProtectedHeader(token));
    } catch {
      return failure(ErrorCode.tokenMalformed, 'the token header is not base64url-encoded JSON');
    }
    if (typeof alg !== 'string') return failure(ErrorCode.tokenMalformed, 'the token header has no "alg"');
    if (alg.toLowerCase() === 'none') return failure(ErrorCode.tokenAlgorithm, 'unsigned tokens (alg "none") are never accepted');
    if (!options.algorithms.includes(alg)) {
      return failure(ErrorCode.tokenAlgorithm, `algorithm ${alg} is not accepted; this server accepts ${options.algorithms.join(', ') || 'no tokens'}`);
    }
    if (alg.startsWith('HS')) {
      try {
        const { payload } = await jwtVerify(token, options.secret!, { ...claims, algorithms: [alg] });
        return identityOf(payload, options);
      } catch (error) {
        return mapJoseError(error);
      }
    }
    const candidates: KeyObject[] = [];
    for (const key of options.publicKeys) {
      if (key.algorithms.includes(alg) && (kid === undefined || key.kid === undefined || key.kid === kid)) candidates.push(key.key);
    }
    let last: Verified = failure(ErrorCode.tokenInvalid, 'no configured key verifies this token');
    for (const key of candidates) {
      try {
        const { payload } = await jwtVerify(token, key, { ...claims, algorithms: [alg] });
        return identityOf(payload, options);
      } catch (error) {
        last = mapJoseError(error);
        // Another key may still verify it; any other failure means the signature was fine and the claims were not.
        if (joseCode(error) !== 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') return last;
      }
    }
    return remote ? verifyWithRemote(token, alg) : last;
  };
}
