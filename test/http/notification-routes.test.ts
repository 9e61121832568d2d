import { randomUUID } from 'node:crypto';

import { Liveblocks } from '@liveblocks/node';
import { describe, expect, it } from 'vitest';

import { startNode } from '../support/start-node.js';

const node = await startNode();
const liveblocks = new Liveblocks({ secret: node.secret, baseUrl: node.url });

const newUser = () => `user-${randomUUID()}`;

async function createRoom(organizationId: string): Promise<string> {
  const id = `room-${randomUUID()}`;
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

/** A REST call without the SDK, for what the SDK cannot send or does not expose. */
async function call(method: string, path: string, body?: string) {
  const response = await fetch(`${node.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${node.secret}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body,
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

function trigger(userId: string, extra: { organizationId?: string; roomId?: string } = {}) {
  return liveblocks.triggerInboxNotification({
    userId,
    kind: '$fileUploaded',
    subjectId: 'my-file',
    activityData: { file: 'report.pdf', size: 1200, public: false },
    ...extra,
  });
}

describe('inbox notification routes', () => {
  it('triggers a custom notification that the SDK reads back with its types', async () => {
    const userId = newUser();
    const before = Date.now();

    await trigger(userId);
    const { data, nextCursor } = await liveblocks.getInboxNotifications({ userId });

    expect(nextCursor).toBeNull();
    expect(data).toHaveLength(1);
    const notification = data[0]!;
    expect(notification).toMatchObject({
      kind: '$fileUploaded',
      subjectId: 'my-file',
      readAt: null,
    });
    expect(notification.id).toMatch(/^in_/);
    expect(notification).not.toHaveProperty('roomId');
    expect(notification.notifiedAt).toBeInstanceOf(Date);
    expect(notification.notifiedAt.getTime()).toBeGreaterThanOrEqual(before - 1);
    if (!('activities' in notification)) throw new Error('custom notifications carry activities');
    expect(notification.activities).toHaveLength(1);
    expect(notification.activities[0]!.data).toEqual({
      file: 'report.pdf',
      size: 1200,
      public: false,
    });
    expect(notification.activities[0]!.createdAt).toEqual(notification.notifiedAt);
  });

  it('gets one notification by id for its user only', async () => {
    const userId = newUser();
    await trigger(userId);
    const [listed] = (await liveblocks.getInboxNotifications({ userId })).data;

    const fetched = await liveblocks.getInboxNotification({
      userId,
      inboxNotificationId: listed!.id,
    });

    expect(fetched).toEqual(listed);
    await expect(
      liveblocks.getInboxNotification({ userId: newUser(), inboxNotificationId: listed!.id }),
    ).rejects.toMatchObject({ status: 404 });
  });

  it('puts a notification about a room in the room’s organization', async () => {
    const userId = newUser();
    const roomId = await createRoom('org-room');

    await trigger(userId, { roomId });
    const inRoomOrg = await liveblocks.getInboxNotifications({
      userId,
      organizationId: 'org-room',
    });
    const inDefault = await liveblocks.getInboxNotifications({ userId, organizationId: 'default' });

    expect(inRoomOrg.data).toHaveLength(1);
    expect(inRoomOrg.data[0]).toMatchObject({ roomId });
    expect(inDefault.data).toEqual([]);
  });

  it('refuses a room of another organization than the one given, and an unknown room', async () => {
    const userId = newUser();
    const roomId = await createRoom('org-a');

    await expect(trigger(userId, { roomId, organizationId: 'org-b' })).rejects.toMatchObject({
      status: 422,
      message: expect.stringContaining('org-a'),
    });
    await expect(trigger(userId, { roomId: 'no-such-room' })).rejects.toMatchObject({
      status: 404,
    });
    expect((await liveblocks.getInboxNotifications({ userId })).data).toEqual([]);
  });

  it('refuses kinds without "$" and activity data that is not flat', async () => {
    const userId = newUser();

    const kind = await call(
      'POST',
      '/v2/inbox-notifications/trigger',
      JSON.stringify({ userId, kind: 'thread', subjectId: 's', activityData: {} }),
    );
    const nested = await call(
      'POST',
      '/v2/inbox-notifications/trigger',
      JSON.stringify({ userId, kind: '$k', subjectId: 's', activityData: { a: { b: 1 } } }),
    );
    const missing = await call(
      'POST',
      '/v2/inbox-notifications/trigger',
      JSON.stringify({ userId, kind: '$k', activityData: {} }),
    );
    const malformed = await call('POST', '/v2/inbox-notifications/trigger', '{"userId":');

    expect(kind).toMatchObject({ status: 422, body: { error: 'UNPROCESSABLE_ENTITY' } });
    expect(nested).toMatchObject({ status: 422, body: { error: 'UNPROCESSABLE_ENTITY' } });
    expect(missing).toMatchObject({ status: 422, body: { error: 'UNPROCESSABLE_ENTITY' } });
    expect(malformed).toMatchObject({ status: 400, body: { error: 'INVALID_JSON' } });
    expect((await liveblocks.getInboxNotifications({ userId })).data).toEqual([]);
  });

  it('filters unread notifications with the query string and the query object', async () => {
    const userId = newUser();
    await trigger(userId);
    await trigger(userId);
    const [newest, oldest] = (await liveblocks.getInboxNotifications({ userId })).data;

    const read = await call(
      'POST',
      `/v2/users/${encodeURIComponent(userId)}/inbox-notifications/${oldest!.id}/read`,
    );
    const asString = await liveblocks.getInboxNotifications({ userId, query: 'unread:true' });
    const asObject = await liveblocks.getInboxNotifications({ userId, query: { unread: true } });
    const readOnly = await liveblocks.getInboxNotifications({ userId, query: { unread: false } });

    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id: oldest!.id, readAt: expect.any(String) });
    expect(asString.data.map((n) => n.id)).toEqual([newest!.id]);
    expect(asObject.data.map((n) => n.id)).toEqual([newest!.id]);
    expect(readOnly.data.map((n) => n.id)).toEqual([oldest!.id]);
    expect(readOnly.data[0]!.readAt).toBeInstanceOf(Date);
  });

  it('refuses a query it cannot read', async () => {
    await expect(
      liveblocks.getInboxNotifications({ userId: newUser(), query: 'unread:maybe' }),
    ).rejects.toMatchObject({ status: 422 });
  });

  it('pages with limit and startingAfter, and iterates every page', async () => {
    const userId = newUser();
    for (let i = 0; i < 12; i++) await trigger(userId);

    const first = await liveblocks.getInboxNotifications({ userId, limit: 5 });
    const second = await liveblocks.getInboxNotifications({
      userId,
      limit: 5,
      startingAfter: first.nextCursor!,
    });
    const iterated = [];
    for await (const notification of liveblocks.iterInboxNotifications(
      { userId },
      { pageSize: 10 },
    )) {
      iterated.push(notification.id);
    }

    expect(first.data).toHaveLength(5);
    expect(first.nextCursor).toEqual(expect.any(String));
    expect(second.data).toHaveLength(5);
    expect(new Set([...first.data, ...second.data].map((n) => n.id)).size).toBe(10);
    expect(new Set(iterated).size).toBe(12);
  });

  it('refuses a limit out of range and a cursor it did not make', async () => {
    const userId = newUser();

    await expect(liveblocks.getInboxNotifications({ userId, limit: 0 })).rejects.toMatchObject({
      status: 422,
    });
    await expect(liveblocks.getInboxNotifications({ userId, limit: 51 })).rejects.toMatchObject({
      status: 422,
    });
    await expect(
      liveblocks.getInboxNotifications({ userId, startingAfter: 'forged' }),
    ).rejects.toMatchObject({ status: 422 });
  });

  it('deletes one notification, then answers 404 for it', async () => {
    const userId = newUser();
    await trigger(userId);
    const [notification] = (await liveblocks.getInboxNotifications({ userId })).data;

    await liveblocks.deleteInboxNotification({ userId, inboxNotificationId: notification!.id });

    await expect(
      liveblocks.getInboxNotification({ userId, inboxNotificationId: notification!.id }),
    ).rejects.toMatchObject({ status: 404 });
    await expect(
      liveblocks.deleteInboxNotification({ userId, inboxNotificationId: notification!.id }),
    ).rejects.toMatchObject({ status: 404 });
  });

  it("deletes all of one organization's notifications, or all of them without one", async () => {
    const userId = newUser();
    await trigger(userId, { organizationId: 'org-a' });
    await trigger(userId, { organizationId: 'org-b' });
    await trigger(userId);

    await liveblocks.deleteAllInboxNotifications({ userId, organizationId: 'org-a' });
    const afterOrgA = await liveblocks.getInboxNotifications({ userId });
    await liveblocks.deleteAllInboxNotifications({ userId });
    const afterAll = await liveblocks.getInboxNotifications({ userId });

    expect(afterOrgA.data).toHaveLength(2);
    expect(afterAll.data).toEqual([]);
  });

  it('keeps organization B’s notifications out of every call made for organization A', async () => {
    const userId = newUser();
    await trigger(userId, { organizationId: 'org-b' });
    const [ofB] = (await liveblocks.getInboxNotifications({ userId, organizationId: 'org-b' }))
      .data;

    const listedForA = await liveblocks.getInboxNotifications({ userId, organizationId: 'org-a' });
    const unreadForA = await liveblocks.getInboxNotifications({
      userId,
      organizationId: 'org-a',
      query: { unread: true },
    });
    await liveblocks.deleteAllInboxNotifications({ userId, organizationId: 'org-a' });

    expect(listedForA.data).toEqual([]);
    expect(unreadForA.data).toEqual([]);
    expect(
      await liveblocks.getInboxNotification({ userId, inboxNotificationId: ofB!.id }),
    ).toMatchObject({ id: ofB!.id });
  });
});
