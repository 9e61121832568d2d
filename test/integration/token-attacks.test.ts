import { SignJWT, generateKeyPair } from 'jose';
import { beforeAll, describe, expect, it, vi } from 'vitest';

import {
  SERVER_MSG,
  describe as describeSocket,
  enterRoom,
  jwtPayload,
  liveblocksSocketUrl,
  mintAccessToken,
  openRawSocket,
  restClient,
  yjsSocketUrl,
  type NodeAddress,
} from '../support/clients.js';
import { startNode } from '../support/start-node.js';

/**
 * Tokens are verified, not decoded: forged, tampered, foreign, expired and malformed tokens
 * never connect over any socket path, and the close code tells the client what to do.
 */

const ORG = 'acme';
const ROOM = 'acme-vault';
const USER = 'attacker';
/** Lifetime of tokens minted by the short-lived node, in seconds. */
const SHORT_TTL_SECONDS = 3;

const PATHS = ['/v8', '/v7', '/y'] as const;
type SocketPath = (typeof PATHS)[number];

let node: NodeAddress;
let shortNode: NodeAddress;
/** Minted at the start, so that it has expired by the time the expiry cases run. */
let expiredToken: string;

beforeAll(async () => {
  [node, shortNode] = await Promise.all([
    startNode(),
    startNode({ TOKEN_TTL_SECONDS: String(SHORT_TTL_SECONDS) }),
  ]);
  for (const target of [node, shortNode]) {
    await restClient(target).createRoom(ROOM, {
      defaultAccesses: ['room:write'],
      organizationId: ORG,
    });
  }
  expiredToken = await mintAccessToken(shortNode, USER, { organizationId: ORG });
});

/** Forged tokens, each built from a genuine one minted just before. */
const FORGERIES: Record<string, (genuine: string) => Promise<string>> = {
  'an unsigned token (alg none)': async (genuine) =>
    `${b64json({ alg: 'none', typ: 'JWT' })}.${b64json(longLived(jwtPayload(genuine)))}.`,
  'an unsigned token keeping the server’s kid': async (genuine) =>
    `${b64json({ ...header(genuine), alg: 'none' })}.${b64json(longLived(jwtPayload(genuine)))}.`,
  'a token whose organization claim was changed': async () => {
    const other = await mintAccessToken(node, USER, { organizationId: 'globex' });
    const [head, , signature] = other.split('.');
    return `${head}.${b64json({ ...jwtPayload(other), oid: ORG })}.${signature}`;
  },
  'a token whose permissions were widened': async () => {
    const narrow = await mintAccessToken(node, USER, {
      organizationId: ORG,
      allow: { 'somewhere-else': ['*:read'] },
    });
    const [head, , signature] = narrow.split('.');
    return `${head}.${b64json({ ...jwtPayload(narrow), perms: { '*': ['*:write'] } })}.${signature}`;
  },
  'a token signed by another ES256 key under the server’s kid': async (genuine) => {
    const { privateKey } = await generateKeyPair('ES256');
    return new SignJWT(longLived(jwtPayload(genuine)))
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: header(genuine).kid as string })
      .sign(privateKey);
  },
  'a token signed with HS256 and the project secret key': async (genuine) =>
    new SignJWT(longLived(jwtPayload(genuine)))
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: header(genuine).kid as string })
      .sign(new TextEncoder().encode(node.secret)),
  garbage: async () => 'garbage',
  'three dots of garbage': async () => 'a.b.c',
  'a JSON payload without a signature segment': async (genuine) =>
    genuine.split('.').slice(0, 2).join('.'),
};

describe('token verification on every socket path', () => {
  it.each(PATHS)('admits a genuine token over %s (the control case)', async (path) => {
    const token = await mintAccessToken(node, USER, { organizationId: ORG });
    const socket = openRawSocket(urlFor(node, path, token));

    if (path === '/y') {
      await socket.waitForFrames(1);
    } else {
      await socket.waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE);
    }
    expect(socket.closeInfo).toBeUndefined();
  });

  const forgeryCases = Object.keys(FORGERIES).flatMap((forgery) =>
    PATHS.map((path) => ({ forgery, path })),
  );
  it.each(forgeryCases)(
    'closes $forgery over $path with 4001 and sends nothing',
    async ({ forgery, path }) => {
      const genuine = await mintAccessToken(node, USER, { organizationId: ORG });
      const token = await FORGERIES[forgery]!(genuine);

      const socket = openRawSocket(urlFor(node, path, token));
      const close = await socket.closed();

      expect(socket.refusedWithStatus, describeSocket(socket)).toBeUndefined();
      expect(close.code, describeSocket(socket)).toBe(4001);
      expect(close.reason).not.toBe('');
      expect(socket.frames, describeSocket(socket)).toEqual([]);
    },
  );

  it.each(PATHS)('closes a socket without any token over %s with 4001', async (path) => {
    const socket = openRawSocket(urlFor(node, path, undefined));
    const close = await socket.closed();
    expect(close.code, describeSocket(socket)).toBe(4001);
    expect(socket.frames).toEqual([]);
  });

  it.each(PATHS)(
    'closes an expired token over %s with 4109 so that the client re-authenticates',
    async (path) => {
      const exp = jwtPayload(expiredToken).exp as number;
      await vi.waitFor(() => expect(Math.floor(Date.now() / 1000)).toBeGreaterThan(exp), {
        timeout: (SHORT_TTL_SECONDS + 2) * 1000,
        interval: 50,
      });

      const socket = openRawSocket(urlFor(shortNode, path, expiredToken));
      const close = await socket.closed();

      expect(close.code, describeSocket(socket)).toBe(4109);
      expect(close.reason).not.toBe('');
      expect(socket.frames, describeSocket(socket)).toEqual([]);
    },
  );
});

describe('token expiry during a session', () => {
  it('closes open /v8, /v7 and /y sockets with 4109 when their token expires', async () => {
    const token = await mintAccessToken(shortNode, USER, { organizationId: ORG });
    const exp = jwtPayload(token).exp as number;
    const sockets = PATHS.map((path) => openRawSocket(urlFor(shortNode, path, token)));
    for (const socket of sockets) await socket.waitForFrames(1);

    for (const socket of sockets) {
      const close = await socket.closed((SHORT_TTL_SECONDS + 3) * 1000);
      expect(close.code, describeSocket(socket)).toBe(4109);
      // Not before the token's expiry (whole seconds, as JWT times are).
      expect(Date.now()).toBeGreaterThanOrEqual((exp - 1) * 1000);
    }
  });
});

describe('the real client and token trouble', () => {
  it('stops without retrying when the server refuses a forged token', async () => {
    const genuine = await mintAccessToken(node, USER, { organizationId: ORG });
    const forged = await FORGERIES['an unsigned token (alg none)']!(genuine);
    let calls = 0;

    const session = await enterRoom(node, ROOM, {
      token: async () => {
        calls++;
        return calls === 1 ? forged : FORGERIES['an unsigned token (alg none)']!(genuine);
      },
      waitForConnected: false,
    });
    await vi.waitFor(() => expect(session.closes.map((c) => c.code)).toContain(4001));
    await session.waitForStatus('disconnected');

    expect(session.statuses).not.toContain('connected');
    expect(session.socketUrls).toHaveLength(1);
  });

  it('re-authenticates and reconnects when its token expires during the session', async () => {
    const session = await enterRoom(shortNode, ROOM, {
      token: () => mintAccessToken(shortNode, USER, { organizationId: ORG }),
      initialPresence: { name: 'long session' },
    });
    const firstCalls = session.authCalls();

    await vi.waitFor(
      () => {
        expect(session.closes.map((c) => c.code)).toContain(4109);
        expect(session.authCalls()).toBeGreaterThan(firstCalls);
      },
      { timeout: (SHORT_TTL_SECONDS + 5) * 1000, interval: 20 },
    );
    await session.waitForStatus('connected');

    const firstConnected = session.statuses.indexOf('connected');
    expect(session.statuses.slice(firstConnected + 1)).toContain('reconnecting');
    expect(session.socketUrls.length).toBeGreaterThan(1);
  });
});

function urlFor(target: NodeAddress, path: SocketPath, token: string | undefined): string {
  return path === '/y'
    ? yjsSocketUrl(target, ROOM, token)
    : liveblocksSocketUrl(target, path, ROOM, token);
}

function b64json(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function header(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

/** The payload with a lifetime long enough that only its signature can make it fail. */
function longLived(payload: Record<string, unknown>): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { ...payload, iat: now, exp: now + 3600 };
}
