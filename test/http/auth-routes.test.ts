import { Liveblocks } from '@liveblocks/node';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';

import { startNode, type TestNode } from '../support/start-node.js';

let node: TestNode;
let liveblocks: Liveblocks;

beforeAll(async () => {
  node = await startNode();
  liveblocks = new Liveblocks({ secret: node.secret, baseUrl: node.url });
});

/** The token of a `{ status, body }` auth result, checked to be a 200. */
function tokenOf(result: { status: number; body: string }): string {
  expect(result.status).toBe(200);
  const { token } = JSON.parse(result.body) as { token: string };
  expect(typeof token).toBe('string');
  return token;
}

async function post(
  path: string,
  body: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${node.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${node.secret}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

describe('POST /v2/identify-user', () => {
  it('mints an ID token with the claims the client parses and the organization in oid', async () => {
    const result = await liveblocks.identifyUser(
      {
        userId: 'marie@example.com',
        groupIds: ['marketing', 'engineering'],
        organizationId: 'acme',
      },
      { userInfo: { name: 'Marie', color: '#00ff00' } },
    );

    const payload = decodeJwt(tokenOf(result));
    expect(payload).toMatchObject({
      k: 'id',
      pid: expect.any(String),
      uid: 'marie@example.com',
      gids: ['marketing', 'engineering'],
      ui: { name: 'Marie', color: '#00ff00' },
      oid: 'acme',
    });
    expect(payload.exp! - payload.iat!).toBe(3600);
    expect(Math.abs(payload.iat! - Date.now() / 1000)).toBeLessThan(60);
  });

  it('puts "default" in oid when no organization is given, and honours tenantId', async () => {
    const plain = decodeJwt(tokenOf(await liveblocks.identifyUser('anna')));
    const legacy = decodeJwt(
      tokenOf(await liveblocks.identifyUser({ userId: 'anna', groupIds: [], tenantId: 'globex' })),
    );

    expect(plain).toMatchObject({ k: 'id', uid: 'anna', oid: 'default' });
    expect(plain.gids).toBeUndefined();
    expect(legacy.oid).toBe('globex');
  });

  it('signs with ES256 under a key published at /.well-known/jwks.json', async () => {
    const token = tokenOf(
      await liveblocks.identifyUser({ userId: 'ben', groupIds: [], organizationId: 'acme' }),
    );
    const jwks = (await (await fetch(`${node.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;

    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks));

    expect(protectedHeader.alg).toBe('ES256');
    expect(payload.oid).toBe('acme');
  });

  it.each([
    ['no userId', { groupIds: [] }, /userId/],
    ['an empty userId', { userId: '' }, /userId/],
    ['a numeric userId', { userId: 123 }, /userId/],
    ['groupIds as a string', { userId: 'u', groupIds: 'g1' }, /groupIds/],
    ['a numeric group id', { userId: 'u', groupIds: [1] }, /groupIds/],
    [
      '101 group ids',
      { userId: 'u', groupIds: Array.from({ length: 101 }, (_, i) => `g${i}`) },
      /groupIds/,
    ],
    [
      'contradicting organizations',
      { userId: 'u', organizationId: 'a', tenantId: 'b' },
      /different organizations/,
    ],
  ])('refuses %s with a 422 that names the field', async (_label, body, message) => {
    const response = await post('/v2/identify-user', body);

    expect(response.status).toBe(422);
    expect(response.json.error).toBe('UNPROCESSABLE_ENTITY');
    expect(response.json.message).toMatch(message);
  });
});

describe('POST /v2/authorize-user', () => {
  it('mints an access token with the permissions and the organization of the session', async () => {
    const session = liveblocks.prepareSession('marie@example.com', {
      organizationId: 'acme',
      userInfo: { name: 'Marie' },
    });
    session.allow('Vu78Rt:product:123', session.FULL_ACCESS);
    session.allow('Vu78Rt:product:*', session.READ_ACCESS);

    const payload = decodeJwt(tokenOf(await session.authorize()));

    expect(payload).toMatchObject({
      k: 'acc',
      pid: expect.any(String),
      uid: 'marie@example.com',
      perms: { 'Vu78Rt:product:123': ['*:write'], 'Vu78Rt:product:*': ['*:read'] },
      ui: { name: 'Marie' },
      oid: 'acme',
    });
    expect(payload.exp! - payload.iat!).toBe(3600);
  });

  it('puts "default" in oid without an organization', async () => {
    const session = liveblocks.prepareSession('anna');
    session.allow('*', ['room:write', 'comments:read']);

    const payload = decodeJwt(tokenOf(await session.authorize()));

    expect(payload).toMatchObject({
      k: 'acc',
      oid: 'default',
      perms: { '*': ['room:write', 'comments:read'] },
    });
  });

  it('accepts ten patterns, a lone *, and 128 characters before the *', async () => {
    const permissions = Object.fromEntries(
      Array.from({ length: 8 }, (_, i) => [`room-${i}`, ['*:read']]),
    );
    permissions['*'] = ['*:read'];
    permissions[`${'p'.repeat(128)}*`] = ['*:write', 'storage:read'];

    const response = await post('/v2/authorize-user', { userId: 'u', permissions });

    expect(response.status).toBe(200);
    expect(decodeJwt(response.json.token as string).perms).toEqual(permissions);
  });

  it.each([
    [
      'eleven patterns',
      Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`room-${i}`, ['*:write']])),
      /at most 10 room patterns, got 11/,
    ],
    ['a * in the middle', { 'a*b': ['*:write'] }, /Invalid room pattern "a\*b"/],
    ['two stars', { '**': ['*:write'] }, /Invalid room pattern "\*\*"/],
    ['a leading *', { '*abc': ['*:write'] }, /Invalid room pattern "\*abc"/],
    ['129 characters', { ['r'.repeat(129)]: ['*:write'] }, /Invalid room pattern/],
    ['an empty pattern', { '': ['*:write'] }, /Invalid room pattern ""/],
    ['an empty permission list', { room: [] }, /permission list of "room" is empty/],
    ['an unknown scope', { room: ['room:admin'] }, /unknown permission scope\(s\): "room:admin"/],
    ['a scope that is not a string', { room: [7] }, /permissions\/room\/0/],
    ['a scope list that is a string', { room: 'room:write' }, /permissions\/room/],
  ])('refuses %s with a 422 that names the problem', async (_label, permissions, message) => {
    const response = await post('/v2/authorize-user', { userId: 'u', permissions });

    expect(response.status).toBe(422);
    expect(response.json.error).toBe('UNPROCESSABLE_ENTITY');
    expect(response.json.message).toMatch(message);
  });

  it('refuses a body without permissions', async () => {
    const response = await post('/v2/authorize-user', { userId: 'u' });

    expect(response.status).toBe(422);
    expect(response.json.message).toMatch(/permissions/);
  });
});
