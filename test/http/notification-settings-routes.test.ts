import { randomUUID } from 'node:crypto';

import { Liveblocks } from '@liveblocks/node';
import { describe, expect, it } from 'vitest';

import { MAX_NOTIFICATION_KINDS_PER_CHANNEL } from '../../src/store/notification-settings-repository.js';
import { startNode } from '../support/start-node.js';

const node = await startNode();
const liveblocks = new Liveblocks({ secret: node.secret, baseUrl: node.url });

const CHANNELS = ['email', 'slack', 'teams', 'webPush'] as const;

const newUser = () => `user-${randomUUID()}`;
const settingsPath = (userId: string, query = '') =>
  `/v2/users/${encodeURIComponent(userId)}/notification-settings${query}`;

/** A REST call without the SDK, for what the SDK cannot send. */
async function call(method: string, path: string, body?: string, secret = node.secret) {
  const response = await fetch(`${node.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${secret}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body,
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>),
  };
}

/** The channels of an SDK settings object, read through its getters. */
function plain(settings: Record<(typeof CHANNELS)[number], unknown>) {
  return Object.fromEntries(CHANNELS.map((channel) => [channel, settings[channel]]));
}

const DEFAULTS = Object.fromEntries(
  CHANNELS.map((channel) => [channel, { thread: true, textMention: true }]),
);

describe('notification settings routes', () => {
  it('gives the SDK every channel, thread and textMention on, for a user who changed nothing', async () => {
    const settings = await liveblocks.getNotificationSettings({ userId: newUser() });

    expect(plain(settings)).toEqual(DEFAULTS);
  });

  it('applies a partial update from the SDK and answers the whole settings', async () => {
    const userId = newUser();

    const updated = await liveblocks.updateNotificationSettings({
      userId,
      data: { email: { thread: false }, slack: { $fileUploaded: false } as never },
    });
    const again = await liveblocks.updateNotificationSettings({
      userId,
      data: { webPush: { textMention: false } },
    });
    const read = await liveblocks.getNotificationSettings({ userId });

    const expected = {
      ...DEFAULTS,
      email: { thread: false, textMention: true },
      slack: { thread: true, textMention: true, $fileUploaded: false },
    };
    expect(plain(updated)).toEqual(expected);
    expect(plain(again)).toEqual({ ...expected, webPush: { thread: true, textMention: false } });
    expect(plain(read)).toEqual(plain(again));
  });

  it('returns the user to the defaults on delete through the SDK', async () => {
    const userId = newUser();
    await liveblocks.updateNotificationSettings({ userId, data: { teams: { thread: false } } });

    await liveblocks.deleteNotificationSettings({ userId });

    expect(plain(await liveblocks.getNotificationSettings({ userId }))).toEqual(DEFAULTS);
    const deleteAgain = await call('DELETE', settingsPath(userId));
    expect(deleteAgain.status).toBe(204);
  });

  it('keeps settings per organization: the SDK acts in "default", ?organizationId in another', async () => {
    const userId = newUser();

    const inA = await call(
      'POST',
      settingsPath(userId, '?organizationId=org-a'),
      JSON.stringify({ email: { thread: false } }),
    );
    await liveblocks.updateNotificationSettings({ userId, data: { slack: { thread: false } } });

    expect(inA.status).toBe(200);
    expect(inA.body?.email).toEqual({ thread: false, textMention: true });
    expect(inA.body?.slack).toEqual({ thread: true, textMention: true });
    const defaultScope = plain(await liveblocks.getNotificationSettings({ userId }));
    expect(defaultScope.email).toEqual({ thread: true, textMention: true });
    expect(defaultScope.slack).toEqual({ thread: false, textMention: true });
    const orgB = await call('GET', settingsPath(userId, '?organizationId=org-b'));
    expect(orgB.body).toEqual(DEFAULTS);

    await liveblocks.deleteNotificationSettings({ userId });
    const stillInA = await call('GET', settingsPath(userId, '?organizationId=org-a'));
    expect(stillInA.body?.email).toEqual({ thread: false, textMention: true });
  });

  it('refuses bad updates with 4xx and the Liveblocks error shape, writing nothing', async () => {
    const userId = newUser();
    const cases: Array<[string | undefined, number]> = [
      [JSON.stringify({ fax: { thread: false } }), 422],
      [JSON.stringify({ email: { thread: 'no' } }), 422],
      [JSON.stringify({ email: { thread: null } }), 422],
      [JSON.stringify({ email: null }), 422],
      [JSON.stringify({ email: [true] }), 422],
      [JSON.stringify({ email: { mentions: false } }), 422],
      [JSON.stringify({ email: { $: false } }), 422],
      [JSON.stringify({ email: { [`$${'x'.repeat(128)}`]: false } }), 422],
      ['{"email": {"__proto__": false}}', 422],
      [JSON.stringify([{ email: { thread: false } }]), 422],
      [JSON.stringify('email'), 422],
      ['{"email": {"thread": false}', 400],
      [undefined, 422],
    ];

    for (const [body, status] of cases) {
      const response = await call('POST', settingsPath(userId), body);
      expect(response.status, body).toBe(status);
      expect(response.body, body).toMatchObject({
        error: expect.any(String),
        message: expect.any(String),
      });
    }
    expect(plain(await liveblocks.getNotificationSettings({ userId }))).toEqual(DEFAULTS);
  });

  it('names the unknown kind and channel in the message', async () => {
    const response = await call(
      'POST',
      settingsPath(newUser()),
      JSON.stringify({ slack: { thread: false, mentions: true } }),
    );

    expect(response.body).toMatchObject({ error: 'UNPROCESSABLE_ENTITY' });
    expect(response.body?.message).toContain('"mentions"');
    expect(response.body?.message).toContain('slack');
  });

  it('refuses more kinds per channel than the limit', async () => {
    const userId = newUser();
    const kinds = (count: number, prefix: string) =>
      Object.fromEntries(Array.from({ length: count }, (_, i) => [`$${prefix}${i}`, true]));

    const tooManyAtOnce = await call(
      'POST',
      settingsPath(userId),
      JSON.stringify({ email: kinds(MAX_NOTIFICATION_KINDS_PER_CHANNEL + 1, 'a') }),
    );
    const fits = await call(
      'POST',
      settingsPath(userId),
      JSON.stringify({ email: kinds(MAX_NOTIFICATION_KINDS_PER_CHANNEL - 2, 'b') }),
    );
    const oneMore = await call(
      'POST',
      settingsPath(userId),
      JSON.stringify({ email: { $last: true } }),
    );

    expect(tooManyAtOnce.status).toBe(422);
    expect(fits.status).toBe(200);
    expect(oneMore.status).toBe(422);
    expect(oneMore.body?.message).toContain(`at most ${MAX_NOTIFICATION_KINDS_PER_CHANNEL}`);
  });

  it('refuses an empty or oversized organizationId and user id', async () => {
    const emptyOrg = await call('GET', settingsPath(newUser(), '?organizationId='));
    const longOrg = await call(
      'GET',
      settingsPath(newUser(), `?organizationId=${'o'.repeat(257)}`),
    );
    const longUser = await call('GET', settingsPath('u'.repeat(257)));

    expect([emptyOrg.status, longOrg.status, longUser.status]).toEqual([422, 422, 422]);
  });

  it('needs the secret key', async () => {
    const missing = await fetch(`${node.url}${settingsPath(newUser())}`);
    const wrong = await call('GET', settingsPath(newUser()), undefined, 'sk_wrong');

    expect(missing.status).toBe(401);
    expect(wrong.status).toBe(403);
  });
});
