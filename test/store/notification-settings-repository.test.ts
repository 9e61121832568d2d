import { randomUUID } from 'node:crypto';

import { beforeAll, describe, expect, it } from 'vitest';

import {
  MAX_NOTIFICATION_KINDS_PER_CHANNEL,
  isNotificationKind,
} from '../../src/store/notification-settings-repository.js';
import type { Store } from '../../src/store/store.js';
import { storeFactories } from '../support/store-factories.js';

const DEFAULTS = {
  email: { thread: true, textMention: true },
  slack: { thread: true, textMention: true },
  teams: { thread: true, textMention: true },
  webPush: { thread: true, textMention: true },
};

describe.each(storeFactories)('NotificationSettingsRepository on $name', (factory) => {
  let store: Store;

  beforeAll(async () => {
    store = await factory.open();
  });

  const newOwner = (organizationId = 'default') => ({
    organizationId,
    userId: `user-${randomUUID()}`,
  });

  it('answers every channel with thread and textMention on for a user who changed nothing', async () => {
    expect(await store.notificationSettings.get(newOwner())).toEqual(DEFAULTS);
  });

  it('merges a partial update over the current settings and keeps it', async () => {
    const owner = newOwner();

    await store.notificationSettings.update(owner, { email: { thread: false, $mention: true } });
    const updated = await store.notificationSettings.update(owner, {
      email: { $mention: false },
      webPush: { textMention: false },
    });

    const expected = {
      ...DEFAULTS,
      email: { thread: false, textMention: true, $mention: false },
      webPush: { thread: true, textMention: false },
    };
    expect(updated).toEqual(expected);
    expect(await store.notificationSettings.get(owner)).toEqual(expected);
  });

  it('answers the current settings for an empty update and writes nothing', async () => {
    const owner = newOwner();
    await store.notificationSettings.update(owner, { slack: { thread: false } });

    expect(await store.notificationSettings.update(owner, {})).toEqual({
      ...DEFAULTS,
      slack: { thread: false, textMention: true },
    });
    expect(await store.notificationSettings.update(owner, { teams: {} })).toEqual({
      ...DEFAULTS,
      slack: { thread: false, textMention: true },
    });
  });

  it('keeps the settings of one organization apart from those of another for the same user', async () => {
    const inA = newOwner('org-a');
    const inB = { organizationId: 'org-b', userId: inA.userId };

    await store.notificationSettings.update(inA, { email: { thread: false } });

    expect((await store.notificationSettings.get(inA)).email.thread).toBe(false);
    expect(await store.notificationSettings.get(inB)).toEqual(DEFAULTS);
    await store.notificationSettings.delete(inB);
    expect((await store.notificationSettings.get(inA)).email.thread).toBe(false);
  });

  it('returns the user to the defaults on delete, in that organization only', async () => {
    const owner = newOwner();
    const other = newOwner();
    await store.notificationSettings.update(owner, { teams: { thread: false, $custom: false } });
    await store.notificationSettings.update(other, { teams: { thread: false } });

    await store.notificationSettings.delete(owner);

    expect(await store.notificationSettings.get(owner)).toEqual(DEFAULTS);
    expect((await store.notificationSettings.get(other)).teams.thread).toBe(false);
  });

  it('refuses an update that would pass the kinds limit of a channel and writes none of it', async () => {
    const owner = newOwner();
    const builtIn = 2;
    const fits = Object.fromEntries(
      Array.from({ length: MAX_NOTIFICATION_KINDS_PER_CHANNEL - builtIn }, (_, i) => [
        `$k${i}`,
        true,
      ]),
    );
    await store.notificationSettings.update(owner, { email: fits });

    await expect(
      store.notificationSettings.update(owner, { email: { thread: false, $oneTooMany: true } }),
    ).rejects.toMatchObject({ code: 'UNPROCESSABLE_ENTITY' });

    const after = await store.notificationSettings.get(owner);
    expect(Object.keys(after.email)).toHaveLength(MAX_NOTIFICATION_KINDS_PER_CHANNEL);
    expect(after.email.thread).toBe(true);
  });

  it('applies concurrent updates of different kinds without losing one', async () => {
    const owner = newOwner();

    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        store.notificationSettings.update(owner, { slack: { [`$kind${i}`]: i % 2 === 0 } }),
      ),
    );

    const slack = (await store.notificationSettings.get(owner)).slack;
    expect(Object.keys(slack).sort()).toEqual(
      ['textMention', 'thread', ...Array.from({ length: 8 }, (_, i) => `$kind${i}`)].sort(),
    );
    expect(slack.$kind3).toBe(false);
  });
});

describe('isNotificationKind', () => {
  it('accepts the built-in kinds and "$" custom kinds up to 128 characters', () => {
    expect(isNotificationKind('thread')).toBe(true);
    expect(isNotificationKind('textMention')).toBe(true);
    expect(isNotificationKind('$a')).toBe(true);
    expect(isNotificationKind(`$${'x'.repeat(127)}`)).toBe(true);
  });

  it('refuses other names', () => {
    expect(isNotificationKind('$')).toBe(false);
    expect(isNotificationKind(`$${'x'.repeat(128)}`)).toBe(false);
    expect(isNotificationKind('custom')).toBe(false);
    expect(isNotificationKind('toString')).toBe(false);
    expect(isNotificationKind('')).toBe(false);
  });
});
