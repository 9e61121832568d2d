import { randomUUID } from 'node:crypto';

import { beforeAll, describe, expect, it } from 'vitest';

import { DEFAULT_ROOM_SUBSCRIPTION_SETTINGS } from '../../src/store/subscription-settings-repository.js';
import type { Store } from '../../src/store/store.js';
import { storeFactories } from '../support/store-factories.js';

describe.each(storeFactories)('SubscriptionSettingsRepository on $name', (factory) => {
  let store: Store;

  beforeAll(async () => {
    store = await factory.open();
  });

  const newUser = () => `user-${randomUUID()}`;

  async function createRoom(organizationId = 'default', id = `room-${randomUUID()}`) {
    await store.rooms.create({
      id,
      organizationId,
      createdAt: new Date().toISOString(),
      lastConnectionAt: null,
      defaultAccesses: [],
      usersAccesses: {},
      groupsAccesses: {},
      metadata: {},
    });
    return id;
  }

  it('answers the Liveblocks defaults for a room the user never configured', async () => {
    const roomId = await createRoom();

    expect(await store.subscriptionSettings.get(roomId, newUser())).toEqual({
      threads: 'replies_and_mentions',
      textMentions: 'mine',
    });
    expect(DEFAULT_ROOM_SUBSCRIPTION_SETTINGS).toEqual({
      threads: 'replies_and_mentions',
      textMentions: 'mine',
    });
  });

  it('answers undefined for a room that does not exist, and stores nothing for it', async () => {
    const userId = newUser();

    expect(await store.subscriptionSettings.get('no-such-room', userId)).toBeUndefined();
    expect(
      await store.subscriptionSettings.update('no-such-room', userId, { threads: 'all' }),
    ).toBeUndefined();
    expect(await store.subscriptionSettings.delete('no-such-room', userId)).toBe(false);
    expect((await store.subscriptionSettings.listForUser({ userId, limit: 10 })).settings).toEqual(
      [],
    );
  });

  it('merges a partial update over the current settings', async () => {
    const roomId = await createRoom();
    const userId = newUser();

    const first = await store.subscriptionSettings.update(roomId, userId, { threads: 'all' });
    const second = await store.subscriptionSettings.update(roomId, userId, {
      textMentions: 'none',
    });
    const unchanged = await store.subscriptionSettings.update(roomId, userId, {});

    expect(first).toEqual({ threads: 'all', textMentions: 'mine' });
    expect(second).toEqual({ threads: 'all', textMentions: 'none' });
    expect(unchanged).toEqual(second);
    expect(await store.subscriptionSettings.get(roomId, userId)).toEqual(second);
  });

  it('keeps each user’s settings apart', async () => {
    const roomId = await createRoom();
    const alice = newUser();
    const bob = newUser();

    await store.subscriptionSettings.update(roomId, alice, { threads: 'none' });

    expect((await store.subscriptionSettings.get(roomId, bob))!.threads).toBe(
      'replies_and_mentions',
    );
  });

  it('returns the user to the defaults on delete', async () => {
    const roomId = await createRoom();
    const userId = newUser();
    await store.subscriptionSettings.update(roomId, userId, { threads: 'none' });

    expect(await store.subscriptionSettings.delete(roomId, userId)).toBe(true);
    expect(await store.subscriptionSettings.get(roomId, userId)).toEqual(
      DEFAULT_ROOM_SUBSCRIPTION_SETTINGS,
    );
  });

  it("lists a user's settings filtered by the room's organization", async () => {
    const userId = newUser();
    const inA = await createRoom('org-a');
    const inB = await createRoom('org-b');
    await store.subscriptionSettings.update(inA, userId, { threads: 'all' });
    await store.subscriptionSettings.update(inB, userId, { textMentions: 'none' });

    const onlyA = await store.subscriptionSettings.listForUser({
      userId,
      organizationId: 'org-a',
      limit: 10,
    });
    const all = await store.subscriptionSettings.listForUser({ userId, limit: 10 });

    expect(onlyA.settings).toEqual([{ roomId: inA, threads: 'all', textMentions: 'mine' }]);
    expect(all.settings.map((s) => s.roomId).sort()).toEqual([inA, inB].sort());
  });

  it('pages through a user’s settings in room id order', async () => {
    const userId = newUser();
    const prefix = `p${randomUUID().slice(0, 8)}`;
    const rooms = [];
    for (let i = 0; i < 5; i++) rooms.push(await createRoom('default', `${prefix}-${i}`));
    for (const roomId of rooms) {
      await store.subscriptionSettings.update(roomId, userId, { threads: 'all' });
    }

    const first = await store.subscriptionSettings.listForUser({ userId, limit: 2 });
    const second = await store.subscriptionSettings.listForUser({
      userId,
      limit: 2,
      startingAfter: first.nextCursor!,
    });
    const last = await store.subscriptionSettings.listForUser({
      userId,
      limit: 2,
      startingAfter: second.nextCursor!,
    });

    expect([...first.settings, ...second.settings, ...last.settings].map((s) => s.roomId)).toEqual(
      rooms,
    );
    expect(last.nextCursor).toBeNull();
  });

  it('never leaves settings of a room deleted while they are written', async () => {
    const userId = newUser();
    const rooms = [];
    for (let i = 0; i < 10; i++) rooms.push(await createRoom());

    await Promise.all(
      rooms.flatMap((roomId) => [
        store.subscriptionSettings.update(roomId, userId, { threads: 'all' }),
        store.rooms.delete(roomId),
      ]),
    );

    expect((await store.subscriptionSettings.listForUser({ userId, limit: 50 })).settings).toEqual(
      [],
    );
  });

  it('loses the settings with the room', async () => {
    const roomId = await createRoom();
    const userId = newUser();
    await store.subscriptionSettings.update(roomId, userId, { threads: 'none' });

    await store.rooms.delete(roomId);

    expect((await store.subscriptionSettings.listForUser({ userId, limit: 10 })).settings).toEqual(
      [],
    );
  });
});
