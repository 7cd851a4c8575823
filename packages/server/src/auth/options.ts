// Authentication options (`createServer({ auth })`): their types, defaults, and validation that names what is wrong.
import { createPublicKey, KeyObject, type JsonWebKey } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { JWK } from 'jose';
import { DevErrorCode, SwitchboardError } from '../errors.ts';
import { isGrant } from '../grants/grant-set.ts';

export type { Identity, AuthorizeRequest } from '../identity.ts';
import type { Identity, AuthorizeRequest } from '../identity.ts';

/** A public key to verify tokens with: a KeyObject or CryptoKey, a JWK, or a PEM string. */
export type PublicKeyInput = KeyObject | CryptoKey | JWK | string;

/**
 * `createServer({ auth })`: how connections authenticate and what they may do. See docs/auth.md.
 *
 * @example
 * createServer({ auth: { secret: process.env.JWT_SECRET, anonymous: false, defaultGrants: ['call:*'] } });
 */
export interface AuthOptions {
  /** HS256 shared secret, at least 32 characters. */
  secret?: string;
  /** Public keys for RS*, PS*, ES* and EdDSA tokens. */
  publicKeys?: PublicKeyInput[];
  /** A JWKS endpoint serving the public keys (fetched and cached by `jose`). */
  jwksUrl?: string;
  /** Accepted algorithms; by default those the configured keys can verify. `none` is never accepted. */
  algorithms?: string[];
  /** Required `iss` claim. */
  issuer?: string | string[];
  /** Required `aud` claim. */
  audience?: string | string[];
  /** Whether connections without an identity are accepted (default true). */
  anonymous?: boolean;
  /** Grants every connection has, anonymous or not (default `['call:*']`). */
  defaultGrants?: string[];
  /** Replaces JWT verification: return the identity, or null to refuse. */
  authenticate?: (credentials: { token?: string; request: IncomingMessage }) => Identity | null | Promise<Identity | null>;
  /** Asked when no grant allows an authenticated connection's action; true allows it. */
  authorize?: (identity: Identity, request: AuthorizeRequest) => boolean | Promise<boolean>;
  /** The claim that carries the grants (default `grants`): an array of strings, or one space-separated string. */
  grantsClaim?: string;
  /** The claim that carries the identity's public info (default `info`). */
  infoClaim?: string;
  /** What happens when a connection's token expires: close it with 4003 (default) or make it anonymous. */
  onExpiry?: 'close' | 'downgrade';
  /** How long before expiry `$auth.expiring` is pushed (default 60000). */
  expiryWarningMs?: number;
  /** When `anonymous` is false: close with 4003 a connection that has not authenticated within this (default 10000). */
  authTimeoutMs?: number;
}

/** A verification key with the algorithms it can verify. */
export interface VerifyKey {
  key: KeyObject;
  algorithms: string[];
  kid: string | undefined;
}

/** Auth options after validation and defaults. */
export interface ResolvedAuthOptions {
  secret: Uint8Array | undefined;
  publicKeys: VerifyKey[];
  jwksUrl: URL | undefined;
  algorithms: string[];
  issuer: string | string[] | undefined;
  audience: string | string[] | undefined;
  anonymous: boolean;
  defaultGrants: string[];
  authenticate: AuthOptions['authenticate'];
  authorize: AuthOptions['authorize'];
  grantsClaim: string;
  infoClaim: string;
  onExpiry: 'close' | 'downgrade';
  expiryWarningMs: number;
  authTimeoutMs: number;
  /** Whether tokens can be checked at all (a key, a JWKS URL or an `authenticate` hook). */
  verifies: boolean;
}

const HMAC = ['HS256', 'HS384', 'HS512'];
const RSA = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const EC_BY_CURVE: Record<string, string> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };
const EDDSA = ['EdDSA', 'Ed25519'];
const ASYMMETRIC = [...RSA, 'ES256', 'ES384', 'ES512', ...EDDSA];
const KNOWN = new Set([...HMAC, ...ASYMMETRIC]);

function algorithmsOfKey(key: KeyObject): string[] | undefined {
  const type = key.asymmetricKeyType;
  if (type === 'rsa') return RSA;
  if (type === 'rsa-pss') return RSA.filter((alg) => alg.startsWith('PS'));
  if (type === 'ed25519') return EDDSA;
  if (type === 'ec') {
    const alg = EC_BY_CURVE[key.asymmetricKeyDetails?.namedCurve ?? ''];
    return alg === undefined ? undefined : [alg];
  }
  return undefined;
}

function toVerifyKey(input: PublicKeyInput, index: number, problems: string[]): VerifyKey | undefined {
  const where = `auth.publicKeys[${index}]`;
  let key: KeyObject;
  let jwk: JWK | undefined;
  try {
    if (typeof input === 'string') key = createPublicKey(input);
    else if (input instanceof KeyObject) key = input.type === 'public' ? input : createPublicKey(input);
    else if (typeof CryptoKey !== 'undefined' && input instanceof CryptoKey) {
      const converted = KeyObject.from(input);
      key = converted.type === 'public' ? converted : createPublicKey(converted);
    } else {
      jwk = input as JWK;
      key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    }
  } catch (error) {
    problems.push(`${where}: not a usable public key (${(error as Error).message}); pass a PEM string, a JWK, a KeyObject or a CryptoKey`);
    return undefined;
  }
  const algorithms = algorithmsOfKey(key);
  if (!algorithms) {
    problems.push(`${where}: unsupported key type ${key.asymmetricKeyType ?? key.type}; use RSA, EC (P-256/384/521) or Ed25519`);
    return undefined;
  }
  if (jwk?.alg !== undefined && !algorithms.includes(jwk.alg)) {
    problems.push(`${where}: the JWK says alg ${jwk.alg} but the key can verify only ${algorithms.join(', ')}`);
    return undefined;
  }
  return { key, algorithms: jwk?.alg !== undefined ? [jwk.alg] : algorithms, kid: jwk?.kid };
}

function grantsProblem(grants: unknown, where: string): string | undefined {
  if (!Array.isArray(grants) || grants.some((grant) => typeof grant !== 'string')) return `${where}: must be an array of grant strings`;
  const bad = (grants as string[]).filter((grant) => !isGrant(grant));
  return bad.length > 0
    ? `${where}: ${bad.map((grant) => JSON.stringify(grant)).join(', ')} ${bad.length === 1 ? 'is not a grant' : 'are not grants'}; use call:<type>, subscribe:<channel>, publish:<channel> or broadcast`
    : undefined;
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

/**
 * Validates `createServer({ auth })` and fills in defaults; every problem is named in one SB_CONFIG_INVALID.
 *
 * @example
 * resolveAuthOptions({ secret: 'x'.repeat(32), anonymous: false });
 */
export function resolveAuthOptions(input: AuthOptions | undefined): ResolvedAuthOptions {
  const options = input ?? {};
  const problems: string[] = [];
  if (typeof options !== 'object' || options === null) {
    throw new SwitchboardError(DevErrorCode.configInvalid, 'invalid server options: auth: must be an object');
  }
  let secret: Uint8Array | undefined;
  if (options.secret !== undefined) {
    if (typeof options.secret !== 'string' || options.secret.length < 32) {
      problems.push('auth.secret: must be a string of at least 32 characters (HS256 needs 256 bits of key)');
    } else secret = new TextEncoder().encode(options.secret);
  }
  const publicKeys: VerifyKey[] = [];
  if (options.publicKeys !== undefined) {
    if (!Array.isArray(options.publicKeys)) problems.push('auth.publicKeys: must be an array of keys');
    else
      options.publicKeys.forEach((input, index) => {
        const key = toVerifyKey(input, index, problems);
        if (key) publicKeys.push(key);
      });
  }
  let jwksUrl: URL | undefined;
  if (options.jwksUrl !== undefined) {
    try {
      jwksUrl = new URL(options.jwksUrl);
      if (jwksUrl.protocol !== 'https:' && jwksUrl.protocol !== 'http:') throw new Error('not http(s)');
    } catch {
      problems.push(`auth.jwksUrl: must be an http(s) URL, got ${JSON.stringify(options.jwksUrl)}`);
      jwksUrl = undefined;
    }
  }
  const available = new Set<string>([
    ...(secret ? ['HS256'] : []),
    ...publicKeys.flatMap((key) => key.algorithms),
    ...(jwksUrl ? ASYMMETRIC : []),
  ]);
  let algorithms = [...available];
  if (options.algorithms !== undefined) {
    if (!Array.isArray(options.algorithms) || options.algorithms.length === 0) {
      problems.push('auth.algorithms: must be a non-empty array such as ["HS256"] or ["RS256", "ES256"]');
    } else {
      for (const alg of options.algorithms) {
        if (typeof alg === 'string' && alg.toLowerCase() === 'none') problems.push('auth.algorithms: "none" is never accepted');
        else if (!KNOWN.has(alg)) problems.push(`auth.algorithms: unknown algorithm ${JSON.stringify(alg)}; known: ${[...KNOWN].join(', ')}`);
        else if (HMAC.includes(alg) && !secret) problems.push(`auth.algorithms: ${alg} needs auth.secret`);
        else if (!HMAC.includes(alg) && publicKeys.length === 0 && !jwksUrl) problems.push(`auth.algorithms: ${alg} needs auth.publicKeys or auth.jwksUrl`);
      }
      algorithms = options.algorithms;
    }
  }
  const anonymous = options.anonymous ?? true;
  if (typeof anonymous !== 'boolean') problems.push('auth.anonymous: must be true or false');
  const defaultGrants = options.defaultGrants ?? ['call:*'];
  const grantsIssue = grantsProblem(defaultGrants, 'auth.defaultGrants');
  if (grantsIssue) problems.push(grantsIssue);
  for (const name of ['authenticate', 'authorize'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') problems.push(`auth.${name}: must be a function`);
  }
  for (const name of ['grantsClaim', 'infoClaim'] as const) {
    const value = options[name];
    if (value !== undefined && (typeof value !== 'string' || value.length === 0)) problems.push(`auth.${name}: must be a non-empty string`);
  }
  const onExpiry = options.onExpiry ?? 'close';
  if (onExpiry !== 'close' && onExpiry !== 'downgrade') problems.push(`auth.onExpiry: must be "close" or "downgrade", got ${JSON.stringify(onExpiry)}`);
  const expiryWarningMs = options.expiryWarningMs ?? 60_000;
  if (!isNonNegativeInteger(expiryWarningMs)) problems.push('auth.expiryWarningMs: must be an integer number of ms, 0 or more');
  const authTimeoutMs = options.authTimeoutMs ?? 10_000;
  if (!isNonNegativeInteger(authTimeoutMs) || authTimeoutMs < 1) problems.push('auth.authTimeoutMs: must be an integer number of ms, 1 or more');
  const verifies = secret !== undefined || publicKeys.length > 0 || jwksUrl !== undefined || options.authenticate !== undefined;
  if (anonymous === false && !verifies) {
    problems.push('auth.anonymous: is false, but no connection could authenticate; set auth.secret, auth.publicKeys, auth.jwksUrl or auth.authenticate');
  }
  if (problems.length > 0) {
    throw new SwitchboardError(DevErrorCode.configInvalid, `invalid server options: ${problems.join('; ')}`);
  }
  return {
    secret,
    publicKeys,
    jwksUrl,
    algorithms,
    issuer: options.issuer,
    audience: options.audience,
    anonymous,
    defaultGrants: [...defaultGrants],
    authenticate: options.authenticate,
    authorize: options.authorize,
    grantsClaim: options.grantsClaim ?? 'grants',
    infoClaim: options.infoClaim ?? 'info',
    onExpiry,
    expiryWarningMs,
    authTimeoutMs,
    verifies,
  };
}
