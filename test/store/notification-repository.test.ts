import { randomUUID } from 'node:crypto';

import { beforeAll, describe, expect, it } from 'vitest';

import { isWeftError } from '../../src/errors.js';
import type { InboxNotificationRecord } from '../../src/store/notification-repository.js';
import type { Store } from '../../src/store/store.js';
import { storeFactories } from '../support/store-factories.js';

describe.each(storeFactories)('NotificationRepository on $name', (factory) => {
  let store: Store;

  beforeAll(async () => {
    store = await factory.open();
  });

  /** A user id no other test uses, so that tests share one database without seeing each other. */
  const newUser = () => `user-${randomUUID()}`;

  const trigger = (
    userId: string,
    fields: Partial<Pick<InboxNotificationRecord, 'organizationId' | 'subjectId' | 'roomId'>> = {},
    at = new Date(),
  ) =>
    store.notifications.create(
      {
        userId,
        organizationId: fields.organizationId ?? 'default',
        kind: '$fileUploaded',
        subjectId: fields.subjectId ?? 'file-1',
        roomId: fields.roomId ?? null,
        activityData: { name: 'report.pdf', pages: 3, shared: true },
      },
      at,
    );

  /** Every notification of a listing, page by page. */
  async function collect(userId: string, limit: number, organizationId?: string) {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await store.notifications.list({
        userId,
        organizationId,
        limit,
        startingAfter: cursor,
      });
      seen.push(...page.notifications.map((n) => n.id));
      if (page.nextCursor === null) return seen;
      cursor = page.nextCursor;
    }
  }

  it('stores a notification unread and returns it only to its user', async () => {
    const userId = newUser();
    const created = await trigger(userId, { organizationId: 'acme', roomId: 'room-1' });

    expect(created.id).toMatch(/^in_[0-9a-z]{25}$/);
    expect(await store.notifications.get(userId, created.id)).toEqual({
      ...created,
      readAt: null,
      activityData: { name: 'report.pdf', pages: 3, shared: true },
    });
    expect(await store.notifications.get(newUser(), created.id)).toBeUndefined();
  });

  it('lists newest first and pages through every notification exactly once', async () => {
    const userId = newUser();
    const base = Date.parse('2025-01-01T00:00:00.000Z');
    const created: string[] = [];
    for (let i = 0; i < 7; i++) created.push((await trigger(userId, {}, new Date(base + i))).id);

    const listed = await collect(userId, 3);

    expect(listed).toEqual([...created].reverse());
  });

  it('breaks ties of the same instant by id without skipping or repeating', async () => {
    const userId = newUser();
    const at = new Date('2025-02-01T00:00:00.000Z');
    const created = [];
    for (let i = 0; i < 6; i++) created.push((await trigger(userId, {}, at)).id);

    const listed = await collect(userId, 4);

    expect(listed).toHaveLength(6);
    expect(new Set(listed)).toEqual(new Set(created));
  });

  it('keeps the next pages unchanged when notifications arrive while a client pages', async () => {
    const userId = newUser();
    const base = Date.parse('2025-03-01T00:00:00.000Z');
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await trigger(userId, {}, new Date(base + i))).id);

    const first = await store.notifications.list({ userId, limit: 2 });
    await trigger(userId, {}, new Date(base + 100));
    const rest = await store.notifications.list({
      userId,
      limit: 10,
      startingAfter: first.nextCursor!,
    });

    expect(first.notifications.map((n) => n.id)).toEqual([created[4], created[3]]);
    expect(rest.notifications.map((n) => n.id)).toEqual([created[2], created[1], created[0]]);
    expect(rest.nextCursor).toBeNull();
  });

  it('filters by organization when one is given and covers all of them otherwise', async () => {
    const userId = newUser();
    const a = await trigger(userId, { organizationId: 'org-a' });
    const b = await trigger(userId, { organizationId: 'org-b' });

    const onlyA = await store.notifications.list({ userId, organizationId: 'org-a', limit: 50 });
    const all = await store.notifications.list({ userId, limit: 50 });

    expect(onlyA.notifications.map((n) => n.id)).toEqual([a.id]);
    expect(all.notifications.map((n) => n.id).sort()).toEqual([a.id, b.id].sort());
  });

  it('marks notifications read once, keeping the first read time', async () => {
    const userId = newUser();
    const first = await trigger(userId);
    const second = await trigger(userId);
    const readAt = new Date('2025-04-01T10:00:00.000Z');

    const changed = await store.notifications.markRead({ userId, ids: [first.id] }, readAt);
    const again = await store.notifications.markRead({ userId, ids: [first.id] }, new Date());
    const unread = await store.notifications.list({ userId, unread: true, limit: 50 });
    const read = await store.notifications.list({ userId, unread: false, limit: 50 });

    expect([changed, again]).toEqual([1, 0]);
    expect((await store.notifications.get(userId, first.id))!.readAt).toBe(readAt.toISOString());
    expect(unread.notifications.map((n) => n.id)).toEqual([second.id]);
    expect(read.notifications.map((n) => n.id)).toEqual([first.id]);
  });

  it('marks read only within the given organization', async () => {
    const userId = newUser();
    const a = await trigger(userId, { organizationId: 'org-a' });
    const b = await trigger(userId, { organizationId: 'org-b' });

    await store.notifications.markRead({ userId, organizationId: 'org-a' });

    expect((await store.notifications.get(userId, a.id))!.readAt).not.toBeNull();
    expect((await store.notifications.get(userId, b.id))!.readAt).toBeNull();
  });

  it('deletes one notification of its own user only', async () => {
    const userId = newUser();
    const created = await trigger(userId);

    expect(await store.notifications.delete(newUser(), created.id)).toBe(false);
    expect(await store.notifications.delete(userId, created.id)).toBe(true);
    expect(await store.notifications.get(userId, created.id)).toBeUndefined();
  });

  it("deletes all of one organization's notifications, or all the user's without one", async () => {
    const userId = newUser();
    const otherUser = newUser();
    await trigger(userId, { organizationId: 'org-a' });
    const b = await trigger(userId, { organizationId: 'org-b' });
    const others = await trigger(otherUser, { organizationId: 'org-a' });

    const inA = await store.notifications.deleteAll({ userId, organizationId: 'org-a' });
    const remaining = await collect(userId, 10);
    const rest = await store.notifications.deleteAll({ userId });

    expect(inA).toBe(1);
    expect(remaining).toEqual([b.id]);
    expect(rest).toBe(1);
    expect(await collect(userId, 10)).toEqual([]);
    expect(await store.notifications.get(otherUser, others.id)).toBeDefined();
  });

  it('refuses a cursor it did not make', async () => {
    const error = await store.notifications
      .list({ userId: newUser(), limit: 5, startingAfter: 'not-a-cursor' })
      .catch((caught: unknown) => caught);

    expect(isWeftError(error) && error.code).toBe('UNPROCESSABLE_ENTITY');
  });
});
