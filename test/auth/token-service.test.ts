import { Writable } from 'node:stream';

import {
  base64url,
  decodeJwt,
  decodeProtectedHeader,
  generateKeyPair,
  importJWK,
  SignJWT,
  type JWK,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { TokenService } from '../../src/auth/token-service.js';
import { createLogger } from '../../src/log.js';
import { openStore, type Store } from '../../src/store/store.js';

let store: Store;
let service: TokenService;

beforeAll(async () => {
  const logger = createLogger({
    level: 'silent',
    destination: new Writable({ write: (_chunk, _encoding, done) => done() }),
  });
  store = await openStore({ databaseUrl: 'sqlite::memory:', logger });
  service = await TokenService.open({ keys: store.signingKeys, projectId: 'weft_test' });
});

afterAll(async () => {
  await store.close();
});

/** Signs any payload with the service's own private key, as a forger holding it could. */
async function signWithStoredKey(payload: Record<string, unknown>): Promise<string> {
  const [stored] = await store.signingKeys.list();
  const key = await importJWK(JSON.parse(stored!.privateJwk) as JWK, 'ES256');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'ES256', kid: stored!.kid })
    .setIssuedAt(now)
    .setExpirationTime(now + 60)
    .sign(key);
}

function withPayload(token: string, change: (payload: Record<string, unknown>) => void): string {
  const [header, payload, signature] = token.split('.');
  const decoded = JSON.parse(new TextDecoder().decode(base64url.decode(payload!))) as Record<
    string,
    unknown
  >;
  change(decoded);
  return [header, base64url.encode(JSON.stringify(decoded)), signature].join('.');
}

function expectCode(promise: Promise<unknown>, code: string) {
  return expect(promise).rejects.toMatchObject({ name: 'WeftError', code });
}

describe('TokenService', () => {
  it('mints ID tokens that verify back to their claims', async () => {
    const token = await service.mintIdToken({
      userId: 'marie',
      groupIds: ['team'],
      userInfo: { name: 'Marie' },
      organizationId: 'acme',
    });

    const verified = await service.verify(token);

    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'ES256', kid: 'weft-es256-1' });
    expect(decodeJwt(token)).toMatchObject({ pid: 'weft_test', k: 'id', oid: 'acme' });
    expect(verified).toMatchObject({
      kind: 'id',
      userId: 'marie',
      groupIds: ['team'],
      userInfo: { name: 'Marie' },
      organizationId: 'acme',
    });
  });

  it('mints access tokens that verify back to their permissions', async () => {
    const token = await service.mintAccessToken({
      userId: 'ben',
      permissions: { 'doc-*': ['*:read'] },
      userInfo: undefined,
      organizationId: 'default',
    });

    await expect(service.verify(token)).resolves.toMatchObject({
      kind: 'acc',
      userId: 'ben',
      permissions: { 'doc-*': ['*:read'] },
      organizationId: 'default',
    });
  });

  it('shares its key with every service opened on the same store', async () => {
    const other = await TokenService.open({ keys: store.signingKeys, projectId: 'weft_test' });
    const token = await other.mintIdToken({
      userId: 'u',
      groupIds: [],
      userInfo: undefined,
      organizationId: 'acme',
    });

    await expect(service.verify(token)).resolves.toMatchObject({ userId: 'u' });
    expect(other.jwks()).toEqual(service.jwks());
    expect(service.jwks().keys[0]).not.toHaveProperty('d');
  });

  it('rejects an unsigned token (alg none) with INVALID_TOKEN', async () => {
    const now = Math.floor(Date.now() / 1000);
    const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }));
    const payload = base64url.encode(
      JSON.stringify({
        k: 'acc',
        uid: 'eve',
        perms: { '*': ['*:write'] },
        iat: now,
        exp: now + 60,
      }),
    );

    await expectCode(service.verify(`${header}.${payload}.`), 'INVALID_TOKEN');
  });

  it('rejects a tampered payload with INVALID_TOKEN', async () => {
    const token = await service.mintIdToken({
      userId: 'eve',
      groupIds: [],
      userInfo: undefined,
      organizationId: 'acme',
    });

    const otherOrganization = withPayload(token, (payload) => {
      payload.oid = 'globex';
    });
    const otherUser = withPayload(token, (payload) => {
      payload.uid = 'admin';
    });

    await expectCode(service.verify(otherOrganization), 'INVALID_TOKEN');
    await expectCode(service.verify(otherUser), 'INVALID_TOKEN');
  });

  it('rejects a token signed by another key under the same kid with INVALID_TOKEN', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({ k: 'acc', uid: 'eve', perms: { '*': ['*:write'] } })
      .setProtectedHeader({ alg: 'ES256', kid: 'weft-es256-1' })
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(privateKey);

    await expectCode(service.verify(forged), 'INVALID_TOKEN');
  });

  it('rejects an HS256 token keyed with the public key, and unknown or missing kids', async () => {
    const publicJwk = service.jwks().keys[0]!;
    const now = Math.floor(Date.now() / 1000);
    const claims = { k: 'acc', uid: 'eve', perms: { '*': ['*:write'] } };
    const hmac = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', kid: 'weft-es256-1' })
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(new TextEncoder().encode(JSON.stringify(publicJwk)));
    const { privateKey } = await generateKeyPair('ES256');
    const unknownKid = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'someone-elses-key' })
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(privateKey);
    const noKid = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(privateKey);

    await expectCode(service.verify(hmac), 'INVALID_TOKEN');
    await expectCode(service.verify(unknownKid), 'INVALID_TOKEN');
    await expectCode(service.verify(noKid), 'INVALID_TOKEN');
    await expectCode(service.verify('not-a-jwt'), 'INVALID_TOKEN');
  });

  it('rejects an expired token with TOKEN_EXPIRED', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    let token: string;
    try {
      vi.setSystemTime(Date.now() - 2 * 3600 * 1000);
      token = await service.mintIdToken({
        userId: 'old',
        groupIds: [],
        userInfo: undefined,
        organizationId: 'acme',
      });
    } finally {
      vi.useRealTimers();
    }

    await expectCode(service.verify(token), 'TOKEN_EXPIRED');
  });

  it.each([
    ['no uid', { k: 'id' }],
    ['an unknown kind', { k: 'admin', uid: 'u' }],
    ['gids that are not strings', { k: 'id', uid: 'u', gids: [1] }],
    ['perms that are a list', { k: 'acc', uid: 'u', perms: ['*'] }],
    ['an organization that is not a string', { k: 'id', uid: 'u', oid: 7 }],
  ])('rejects a correctly signed token with %s as INVALID_TOKEN', async (_label, payload) => {
    await expectCode(service.verify(await signWithStoredKey(payload)), 'INVALID_TOKEN');
  });

  it('reads a token without an organization claim as the default organization', async () => {
    const token = await signWithStoredKey({ k: 'id', uid: 'u' });

    await expect(service.verify(token)).resolves.toMatchObject({ organizationId: 'default' });
  });
});
