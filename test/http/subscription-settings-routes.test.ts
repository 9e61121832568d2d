import { randomUUID } from 'node:crypto';

import { Liveblocks } from '@liveblocks/node';
import { describe, expect, it } from 'vitest';

import { startNode } from '../support/start-node.js';

const node = await startNode();
const liveblocks = new Liveblocks({ secret: node.secret, baseUrl: node.url });

const newUser = () => `user-${randomUUID()}`;

async function createRoom(organizationId: string, id = `room-${randomUUID()}`): Promise<string> {
  await node.store.rooms.create({
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

async function post(path: string, body: string) {
  const response = await fetch(`${node.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${node.secret}`, 'content-type': 'application/json' },
    body,
  });
  return { status: response.status, body: (await response.json()) as unknown };
}

describe('room subscription settings routes', () => {
  it('answers the defaults for a user who never changed them', async () => {
    const roomId = await createRoom('default');

    const settings = await liveblocks.getRoomSubscriptionSettings({ roomId, userId: newUser() });

    expect(settings).toEqual({ threads: 'replies_and_mentions', textMentions: 'mine' });
  });

  it('answers 404 for a room that does not exist, on every call', async () => {
    const userId = newUser();
    const roomId = 'no-such-room';

    await expect(liveblocks.getRoomSubscriptionSettings({ roomId, userId })).rejects.toMatchObject({
      status: 404,
    });
    await expect(
      liveblocks.updateRoomSubscriptionSettings({ roomId, userId, data: { threads: 'all' } }),
    ).rejects.toMatchObject({ status: 404 });
    await expect(
      liveblocks.deleteRoomSubscriptionSettings({ roomId, userId }),
    ).rejects.toMatchObject({ status: 404 });
  });

  it('applies a partial update and returns the whole settings', async () => {
    const roomId = await createRoom('default');
    const userId = newUser();

    const first = await liveblocks.updateRoomSubscriptionSettings({
      roomId,
      userId,
      data: { threads: 'all' },
    });
    const second = await liveblocks.updateRoomSubscriptionSettings({
      roomId,
      userId,
      data: { textMentions: 'none' },
    });

    expect(first).toEqual({ threads: 'all', textMentions: 'mine' });
    expect(second).toEqual({ threads: 'all', textMentions: 'none' });
    expect(await liveblocks.getRoomSubscriptionSettings({ roomId, userId })).toEqual(second);
  });

  it('refuses unknown values and unknown fields without writing', async () => {
    const roomId = await createRoom('default');
    const userId = newUser();
    const path = `/v2/rooms/${roomId}/users/${userId}/subscription-settings`;

    const badValue = await post(path, JSON.stringify({ threads: 'everything' }));
    const badField = await post(path, JSON.stringify({ threads: 'all', email: true }));
    const notObject = await post(path, JSON.stringify(['all']));

    expect(badValue).toMatchObject({ status: 422, body: { error: 'UNPROCESSABLE_ENTITY' } });
    expect(badField).toMatchObject({ status: 422, body: { error: 'UNPROCESSABLE_ENTITY' } });
    expect(notObject).toMatchObject({ status: 422, body: { error: 'UNPROCESSABLE_ENTITY' } });
    expect(await liveblocks.getRoomSubscriptionSettings({ roomId, userId })).toEqual({
      threads: 'replies_and_mentions',
      textMentions: 'mine',
    });
  });

  it('returns the user to the defaults on delete', async () => {
    const roomId = await createRoom('default');
    const userId = newUser();
    await liveblocks.updateRoomSubscriptionSettings({ roomId, userId, data: { threads: 'none' } });

    await liveblocks.deleteRoomSubscriptionSettings({ roomId, userId });

    expect(await liveblocks.getRoomSubscriptionSettings({ roomId, userId })).toEqual({
      threads: 'replies_and_mentions',
      textMentions: 'mine',
    });
    expect((await liveblocks.getUserRoomSubscriptionSettings({ userId })).data).toEqual([]);
  });

  it("lists a user's settings of one organization, page by page", async () => {
    const userId = newUser();
    const prefix = `r${randomUUID().slice(0, 8)}`;
    const inA = [
      await createRoom('org-a', `${prefix}-1`),
      await createRoom('org-a', `${prefix}-2`),
      await createRoom('org-a', `${prefix}-3`),
    ];
    const inB = await createRoom('org-b', `${prefix}-4`);
    for (const roomId of [...inA, inB]) {
      await liveblocks.updateRoomSubscriptionSettings({ roomId, userId, data: { threads: 'all' } });
    }

    const first = await liveblocks.getUserRoomSubscriptionSettings({
      userId,
      organizationId: 'org-a',
      limit: 2,
    });
    const second = await liveblocks.getUserRoomSubscriptionSettings({
      userId,
      organizationId: 'org-a',
      limit: 2,
      startingAfter: first.nextCursor!,
    });
    const all = await liveblocks.getUserRoomSubscriptionSettings({ userId });

    expect(first.data).toEqual([
      { roomId: inA[0], threads: 'all', textMentions: 'mine' },
      { roomId: inA[1], threads: 'all', textMentions: 'mine' },
    ]);
    expect(second.data.map((s) => s.roomId)).toEqual([inA[2]]);
    expect(second.nextCursor).toBeNull();
    expect(all.data.map((s) => s.roomId)).toEqual([...inA, inB]);
  });

  it('keeps organization B’s settings out of the list made for organization A', async () => {
    const userId = newUser();
    const roomOfB = await createRoom('org-b');
    await liveblocks.updateRoomSubscriptionSettings({
      roomId: roomOfB,
      userId,
      data: { threads: 'none' },
    });

    const forA = await liveblocks.getUserRoomSubscriptionSettings({
      userId,
      organizationId: 'org-a',
    });
    const forB = await liveblocks.getUserRoomSubscriptionSettings({
      userId,
      organizationId: 'org-b',
    });

    expect(forA.data).toEqual([]);
    expect(forB.data).toEqual([{ roomId: roomOfB, threads: 'none', textMentions: 'mine' }]);
  });

  it('refuses a limit out of range', async () => {
    await expect(
      liveblocks.getUserRoomSubscriptionSettings({ userId: newUser(), limit: 0 }),
    ).rejects.toMatchObject({ status: 422 });
  });
});
