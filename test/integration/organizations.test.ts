import type { InboxNotificationData } from '@liveblocks/core';
import { Liveblocks, type RoomData } from '@liveblocks/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createTestDatabase, dropTestDatabase } from '../support/postgres.js';
import { startNode, type TestNode } from '../support/start-node.js';

/**
 * Every code sample of the "Organizations" documentation page (organizations.mdx), run through
 * the real `@liveblocks/node` against a real node, with the results the page documents; then
 * the isolation the page promises, between two organizations, for each kind of resource.
 */

let node: TestNode;
let liveblocks: Liveblocks;

/** The claims of a token in an `identifyUser` / `authorize` body, read as the client reads them. */
function claimsOf(body: string): Record<string, unknown> {
  const { token } = JSON.parse(body) as { token: string };
  const [, payload] = token.split('.');
  return JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** A REST call the SDK cannot make (it sends no organizationId on some lists). */
async function call(method: string, path: string, body?: unknown) {
  const response = await fetch(`${node.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${node.secret}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const idsOf = (items: { id: string }[]) => items.map((item) => item.id);

/** Subjects of custom notifications (the only kind these tests trigger). */
const subjectsOf = (notifications: InboxNotificationData[]) =>
  notifications.map((notification) =>
    'subjectId' in notification ? notification.subjectId : notification.kind,
  );

describe.each(['sqlite', 'postgres'])('organizations.mdx on %s', (dialect) => {
  let databaseUrl: string | undefined;

  beforeAll(async () => {
    databaseUrl = dialect === 'postgres' ? await createTestDatabase() : undefined;
    node = await startNode(databaseUrl === undefined ? {} : { DATABASE_URL: databaseUrl });
    liveblocks = new Liveblocks({ secret: node.secret, baseUrl: node.url });
  });

  afterAll(async () => {
    await node.close();
    if (databaseUrl !== undefined) await dropTestDatabase(databaseUrl);
  });

  it('runs on the database it names', () => {
    expect(node.store.dialect).toBe(dialect);
  });

  describe('setting up organizations', () => {
    let room: RoomData;

    beforeAll(async () => {
      // The page's sample, plus the defaultAccesses that the SDK requires.
      room = await liveblocks.createRoom('my-room-id', {
        defaultAccesses: [],
        organizationId: 'my-organization-id',
      });
    });

    it('creates a room in the organization given on creation', async () => {
      expect(room).toMatchObject({ id: 'my-room-id', organizationId: 'my-organization-id' });
      expect(await liveblocks.getRoom('my-room-id')).toMatchObject({
        organizationId: 'my-organization-id',
      });
    });

    it('puts resources created without an organization in "default"', async () => {
      const plainRoom = await liveblocks.createRoom('no-org-room', { defaultAccesses: [] });
      const group = await liveblocks.createGroup({ groupId: 'no-org-group' });
      await liveblocks.triggerInboxNotification({
        userId: 'no-org-user',
        kind: '$fileUploaded',
        subjectId: 'my-file',
        activityData: {},
      });

      const inDefault = await liveblocks.getInboxNotifications({
        userId: 'no-org-user',
        organizationId: 'default',
      });

      expect(plainRoom.organizationId).toBe('default');
      expect(group.organizationId).toBe('default');
      expect(inDefault.data).toHaveLength(1);
    });

    it("refuses to change a room's organization after creation", async () => {
      const update = await call('POST', '/v2/rooms/my-room-id', {
        organizationId: 'another-organization',
      });
      const move = await call('POST', '/v2/rooms/my-room-id/update-organization-id', {
        fromOrganizationId: 'my-organization-id',
        toOrganizationId: 'another-organization',
      });

      for (const refused of [update, move]) {
        expect(refused.status).toBeGreaterThanOrEqual(400);
        expect(refused.status).toBeLessThan(500);
        expect(refused.body.message).toMatch(/organization/i);
      }
      expect((await liveblocks.getRoom('my-room-id')).organizationId).toBe('my-organization-id');
    });
  });

  describe('resources using organizations', () => {
    beforeAll(async () => {
      await liveblocks.createRoom('my-second-room-id', {
        defaultAccesses: [],
        organizationId: 'my-organization-id',
      });
      await liveblocks.createRoom('someone-elses-room-id', {
        defaultAccesses: [],
        organizationId: 'someone-elses-organization-id',
      });
    });

    it('getRooms({ organizationId }) returns only that organization’s rooms', async () => {
      const { data: rooms, nextCursor } = await liveblocks.getRooms({
        organizationId: 'my-organization-id',
      });

      expect(idsOf(rooms).sort()).toEqual(['my-room-id', 'my-second-room-id']);
      expect(rooms.every((room) => room.organizationId === 'my-organization-id')).toBe(true);
      expect(nextCursor).toBeNull();
    });

    it('triggerInboxNotification puts the notification in the given organization', async () => {
      await liveblocks.triggerInboxNotification({
        userId: 'steven@example.com',
        kind: '$fileUploaded',
        subjectId: 'my-file',
        activityData: {},
        organizationId: 'my-organization-id',
      });

      const mine = await liveblocks.getInboxNotifications({
        userId: 'steven@example.com',
        organizationId: 'my-organization-id',
      });
      const elsewhere = await liveblocks.getInboxNotifications({
        userId: 'steven@example.com',
        organizationId: 'someone-elses-organization-id',
      });

      expect(mine.data).toHaveLength(1);
      expect(mine.data[0]).toMatchObject({
        kind: '$fileUploaded',
        subjectId: 'my-file',
        readAt: null,
      });
      expect(elsewhere.data).toEqual([]);
    });

    it('deleteAllInboxNotifications({ organizationId }) deletes that organization’s only', async () => {
      await liveblocks.triggerInboxNotification({
        userId: 'steven@example.com',
        kind: '$fileUploaded',
        subjectId: 'their-file',
        activityData: {},
        organizationId: 'someone-elses-organization-id',
      });

      await liveblocks.deleteAllInboxNotifications({
        userId: 'steven@example.com',
        organizationId: 'my-organization-id',
      });

      const mine = await liveblocks.getInboxNotifications({
        userId: 'steven@example.com',
        organizationId: 'my-organization-id',
      });
      const theirs = await liveblocks.getInboxNotifications({
        userId: 'steven@example.com',
        organizationId: 'someone-elses-organization-id',
      });
      expect(mine.data).toEqual([]);
      expect(subjectsOf(theirs.data)).toEqual(['their-file']);
    });

    it('getUserRoomSubscriptionSettings({ organizationId }) lists that organization’s rooms', async () => {
      for (const roomId of ['my-room-id', 'someone-elses-room-id']) {
        await liveblocks.updateRoomSubscriptionSettings({
          roomId,
          userId: 'steven@example.com',
          data: { threads: 'all' },
        });
      }

      const { data, nextCursor } = await liveblocks.getUserRoomSubscriptionSettings({
        userId: 'steven@example.com',
        organizationId: 'my-organization-id',
      });

      expect(data).toEqual([{ roomId: 'my-room-id', threads: 'all', textMentions: 'mine' }]);
      expect(nextCursor).toBeNull();
    });
  });

  describe('authentication', () => {
    it('identifyUser with organizationId mints an ID token of that organization', async () => {
      const { body, status } = await liveblocks.identifyUser({
        userId: 'olivier@example.com',
        // The SDK's Identity type requires groupIds; the page's sample leaves them out.
        groupIds: [],
        organizationId: 'organization123',
      });

      expect(status).toBe(200);
      expect(body).toMatch(/^\{"token":"[\w-]+\.[\w-]+\.[\w-]+"\}$/);
      expect(claimsOf(body)).toMatchObject({
        k: 'id',
        uid: 'olivier@example.com',
        oid: 'organization123',
      });
    });

    it('prepareSession with organizationId mints an access token of that organization', async () => {
      const session = liveblocks.prepareSession('olivier@example.com', {
        organizationId: 'organization123',
      });
      session.allow('Vu78Rt:design:9Hdu73', session.FULL_ACCESS);
      session.allow('Vu78Rt:product:*', session.FULL_ACCESS);

      const { body, status } = await session.authorize();

      expect(status).toBe(200);
      expect(body).toMatch(/^\{"token":"[\w-]+\.[\w-]+\.[\w-]+"\}$/);
      expect(claimsOf(body)).toMatchObject({
        k: 'acc',
        uid: 'olivier@example.com',
        oid: 'organization123',
        perms: {
          'Vu78Rt:design:9Hdu73': [...session.FULL_ACCESS],
          'Vu78Rt:product:*': [...session.FULL_ACCESS],
        },
      });
    });

    it('carries exactly one organization per token: switching means a new token', async () => {
      const first = await liveblocks.identifyUser({
        userId: 'olivier@example.com',
        groupIds: [],
        organizationId: 'organization123',
      });
      const second = await liveblocks.identifyUser({
        userId: 'olivier@example.com',
        groupIds: [],
        organizationId: 'organization456',
      });
      const withoutOrganization = await liveblocks.identifyUser('olivier@example.com');

      expect(claimsOf(first.body).oid).toBe('organization123');
      expect(claimsOf(second.body).oid).toBe('organization456');
      expect(claimsOf(withoutOrganization.body).oid).toBe('default');
    });
  });

  describe('isolation between two organizations', () => {
    const userId = 'isolated@example.com';

    beforeAll(async () => {
      for (const organizationId of ['org-alpha', 'org-beta']) {
        await liveblocks.createRoom(`${organizationId}-room`, {
          defaultAccesses: [],
          organizationId,
        });
        await liveblocks.triggerInboxNotification({
          userId,
          kind: '$fileUploaded',
          subjectId: `${organizationId}-file`,
          activityData: {},
          organizationId,
        });
        await liveblocks.updateRoomSubscriptionSettings({
          roomId: `${organizationId}-room`,
          userId,
          data: { textMentions: 'none' },
        });
        await liveblocks.createGroup({
          groupId: `${organizationId}-group`,
          organizationId,
          memberIds: [userId],
        });
      }
    });

    it.each([
      ['org-alpha', 'org-beta'],
      ['org-beta', 'org-alpha'],
    ])('shows %s none of the rooms of %s', async (own, other) => {
      const { data } = await liveblocks.getRooms({ organizationId: own, limit: 100 });

      expect(idsOf(data)).toEqual([`${own}-room`]);
      expect(idsOf(data)).not.toContain(`${other}-room`);
    });

    it('lists every organization’s rooms to a call that names none', async () => {
      const { data } = await liveblocks.getRooms({ limit: 100 });

      expect(idsOf(data)).toEqual(expect.arrayContaining(['org-alpha-room', 'org-beta-room']));
    });

    it.each([
      ['org-alpha', 'org-beta'],
      ['org-beta', 'org-alpha'],
    ])('shows %s none of the notifications of %s', async (own) => {
      const listed = await liveblocks.getInboxNotifications({ userId, organizationId: own });
      const unread = await liveblocks.getInboxNotifications({
        userId,
        organizationId: own,
        query: { unread: true },
      });

      expect(subjectsOf(listed.data)).toEqual([`${own}-file`]);
      expect(subjectsOf(unread.data)).toEqual([`${own}-file`]);
    });

    it.each([
      ['org-alpha', 'org-beta'],
      ['org-beta', 'org-alpha'],
    ])('shows %s none of the subscription settings of %s', async (own) => {
      const { data } = await liveblocks.getUserRoomSubscriptionSettings({
        userId,
        organizationId: own,
      });

      expect(data).toEqual([
        { roomId: `${own}-room`, threads: 'replies_and_mentions', textMentions: 'none' },
      ]);
    });

    it.each([
      ['org-alpha', 'org-beta'],
      ['org-beta', 'org-alpha'],
    ])('shows %s none of the groups of %s', async (own) => {
      const groups = await call('GET', `/v2/groups?organizationId=${own}&limit=100`);
      const userGroups = await call('GET', `/v2/users/${userId}/groups?organizationId=${own}`);

      expect(idsOf(groups.body.data as { id: string }[])).toEqual([`${own}-group`]);
      expect(idsOf(userGroups.body.data as { id: string }[])).toEqual([`${own}-group`]);
    });

    it('keeps ids unique across the project: the same id in another organization is a conflict', async () => {
      await expect(
        liveblocks.createRoom('org-alpha-room', {
          defaultAccesses: [],
          organizationId: 'org-beta',
        }),
      ).rejects.toMatchObject({ status: 409 });
      await expect(
        liveblocks.createGroup({ groupId: 'org-alpha-group', organizationId: 'org-beta' }),
      ).rejects.toMatchObject({ status: 409 });
    });

    it("deletes one organization's notifications without touching the other's", async () => {
      await liveblocks.deleteAllInboxNotifications({ userId, organizationId: 'org-alpha' });

      const alpha = await liveblocks.getInboxNotifications({ userId, organizationId: 'org-alpha' });
      const beta = await liveblocks.getInboxNotifications({ userId, organizationId: 'org-beta' });

      expect(alpha.data).toEqual([]);
      expect(subjectsOf(beta.data)).toEqual(['org-beta-file']);
    });
  });
});
