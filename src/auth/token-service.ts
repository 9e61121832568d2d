import { randomUUID } from 'node:crypto';

import {
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
  errors as joseErrors,
  type JWK,
  type JWTPayload,
  type CryptoKey,
} from 'jose';

import { WeftError } from '../errors.js';
import type { SigningKeyRepository } from '../store/signing-key-repository.js';

/** The organization of every resource and token that names none. */
export const DEFAULT_ORGANIZATION = 'default';

/** Name of the claim carrying a token's one organization. */
export const ORGANIZATION_CLAIM = 'oid';

/** The kid of the first key; every node proposes it at start and the first insert wins. */
const PRIMARY_KID = 'weft-es256-1';
const ALGORITHM = 'ES256';

/** What an ID token (`k: "id"`) grants: whatever the room's accesses say for its user. */
export interface IdTokenClaims {
  kind: 'id';
  userId: string;
  groupIds: string[];
  userInfo: unknown;
  organizationId: string;
}

/** What an access token (`k: "acc"`) grants: its own pattern → scopes map. */
export interface AccessTokenClaims {
  kind: 'acc';
  userId: string;
  permissions: Record<string, string[]>;
  userInfo: unknown;
  organizationId: string;
}

/** A token whose signature, lifetime and shape were checked. */
export type VerifiedToken = (IdTokenClaims | AccessTokenClaims) & {
  /** Expiry, in seconds since the epoch. */
  expiresAt: number;
};

/** Options of {@link TokenService.open}. */
export interface TokenServiceOptions {
  keys: SigningKeyRepository;
  /** The `pid` claim. */
  projectId: string;
  /** Token lifetime in seconds. @default 3600 */
  ttlSeconds?: number;
}

interface KeyEntry {
  kid: string;
  publicJwk: JWK;
  publicKey: CryptoKey;
  privateKey?: CryptoKey;
}

/**
 * Mints and verifies ES256 tokens. The key pair lives in the store so that every node signs
 * and verifies with the same keys; `jwks()` publishes the public halves.
 */
export class TokenService {
  private constructor(
    private readonly options: TokenServiceOptions,
    private keysByKid: Map<string, KeyEntry>,
    private signing: KeyEntry,
  ) {}

  /** Loads the shared signing key from the store, creating it on the first start. */
  static async open(options: TokenServiceOptions): Promise<TokenService> {
    const proposal = await generateKeyPair(ALGORITHM, { extractable: true });
    const stored = await options.keys.insertIfAbsent({
      kid: PRIMARY_KID,
      privateJwk: JSON.stringify(await exportJWK(proposal.privateKey)),
      publicJwk: JSON.stringify(await exportJWK(proposal.publicKey)),
      createdAt: new Date().toISOString(),
    });

    const keys = await loadKeys(options.keys);
    const signing = keys.get(stored.kid);
    if (!signing?.privateKey) throw new Error('signing key missing after insert');
    return new TokenService(options, keys, signing);
  }

  /** Mints an ID token. */
  async mintIdToken(claims: Omit<IdTokenClaims, 'kind'>): Promise<string> {
    return this.sign({
      k: 'id',
      uid: claims.userId,
      ...(claims.groupIds.length > 0 ? { gids: claims.groupIds } : {}),
      ...(claims.userInfo !== undefined ? { ui: claims.userInfo } : {}),
      [ORGANIZATION_CLAIM]: claims.organizationId,
    });
  }

  /** Mints an access token. */
  async mintAccessToken(claims: Omit<AccessTokenClaims, 'kind'>): Promise<string> {
    return this.sign({
      k: 'acc',
      uid: claims.userId,
      perms: claims.permissions,
      ...(claims.userInfo !== undefined ? { ui: claims.userInfo } : {}),
      [ORGANIZATION_CLAIM]: claims.organizationId,
    });
  }

  /**
   * Verifies signature, algorithm, lifetime and shape. Throws TOKEN_EXPIRED for an expired
   * token (the client re-authenticates) and INVALID_TOKEN for anything else.
   */
  async verify(token: string): Promise<VerifiedToken> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, (header) => this.publicKeyFor(header.kid), {
        algorithms: [ALGORITHM],
      }));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new WeftError('TOKEN_EXPIRED');
      throw new WeftError('INVALID_TOKEN', undefined, { cause: error });
    }
    return parsePayload(payload);
  }

  /** The public keys, as served at /.well-known/jwks.json. */
  jwks(): { keys: JWK[] } {
    return {
      keys: [...this.keysByKid.values()].map((entry) => ({
        ...entry.publicJwk,
        kid: entry.kid,
        alg: ALGORITHM,
        use: 'sig',
      })),
    };
  }

  private async sign(claims: Record<string, unknown>): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ pid: this.options.projectId, ...claims })
      .setProtectedHeader({ alg: ALGORITHM, kid: this.signing.kid, typ: 'JWT' })
      .setIssuedAt(now)
      .setExpirationTime(now + (this.options.ttlSeconds ?? 3600))
      .setJti(randomUUID())
      .sign(this.signing.privateKey!);
  }

  private async publicKeyFor(kid: string | undefined): Promise<CryptoKey> {
    if (kid === undefined) throw new WeftError('INVALID_TOKEN', 'The token names no key (kid).');

    let entry = this.keysByKid.get(kid);
    if (!entry) {
      // Another node may have added a key since this one started.
      this.keysByKid = await loadKeys(this.options.keys);
      entry = this.keysByKid.get(kid);
    }
    if (!entry) throw new WeftError('INVALID_TOKEN', 'The token was signed by an unknown key.');
    return entry.publicKey;
  }
}

async function loadKeys(repository: SigningKeyRepository): Promise<Map<string, KeyEntry>> {
  const entries = new Map<string, KeyEntry>();
  for (const stored of await repository.list()) {
    const publicJwk = JSON.parse(stored.publicJwk) as JWK;
    entries.set(stored.kid, {
      kid: stored.kid,
      publicJwk,
      publicKey: (await importJWK(publicJwk, ALGORITHM)) as CryptoKey,
      privateKey: (await importJWK(JSON.parse(stored.privateJwk) as JWK, ALGORITHM)) as CryptoKey,
    });
  }
  return entries;
}

function parsePayload(payload: JWTPayload): VerifiedToken {
  const invalid = (why: string) => new WeftError('INVALID_TOKEN', `Invalid token: ${why}.`);
  const { k, uid, exp } = payload;
  const organizationId = payload[ORGANIZATION_CLAIM];

  if (typeof uid !== 'string' || uid === '') throw invalid('uid missing');
  if (typeof exp !== 'number') throw invalid('exp missing');
  if (organizationId !== undefined && typeof organizationId !== 'string') {
    throw invalid('organization claim is not a string');
  }
  const common = {
    userId: uid,
    userInfo: payload.ui,
    organizationId: organizationId || DEFAULT_ORGANIZATION,
    expiresAt: exp,
  };

  if (k === 'id') {
    const gids = payload.gids ?? [];
    if (!Array.isArray(gids) || !gids.every((g) => typeof g === 'string')) {
      throw invalid('gids must be a list of strings');
    }
    return { kind: 'id', groupIds: gids as string[], ...common };
  }
  if (k === 'acc') {
    const perms = payload.perms;
    if (typeof perms !== 'object' || perms === null || Array.isArray(perms)) {
      throw invalid('perms must be an object');
    }
    return { kind: 'acc', permissions: perms as Record<string, string[]>, ...common };
  }
  throw invalid('k must be "id" or "acc"');
}
