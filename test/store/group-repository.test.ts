import { randomUUID } from 'node:crypto';

import { beforeAll, describe, expect, it } from 'vitest';

import { isWeftError } from '../../src/errors.js';
import type { Store } from '../../src/store/store.js';
import { storeFactories } from '../support/store-factories.js';

describe.each(storeFactories)('GroupRepository on $name', (factory) => {
  let store: Store;

  beforeAll(async () => {
    store = await factory.open();
  });

  /** Ids of lowercase letters and digits sort alike under every collation. */
  const unique = () => randomUUID().replaceAll('-', '').slice(0, 12);

  it('creates a group with its members and reads it back', async () => {
    const id = `g${unique()}`;
    const at = new Date('2025-05-01T00:00:00.000Z');

    const created = await store.groups.create(
      { id, organizationId: 'acme', scopes: { mention: true }, memberIds: ['ann', 'bob', 'ann'] },
      at,
    );

    expect(created).toEqual({
      id,
      organizationId: 'acme',
      createdAt: at.toISOString(),
      updatedAt: at.toISOString(),
      scopes: { mention: true },
      members: [
        { id: 'ann', addedAt: at.toISOString() },
        { id: 'bob', addedAt: at.toISOString() },
      ],
    });
    expect(await store.groups.get(id)).toEqual(created);
  });

  it('refuses an existing id and leaves the first group as it was', async () => {
    const id = `g${unique()}`;
    const first = await store.groups.create({
      id,
      organizationId: 'org-a',
      scopes: { mention: true },
      memberIds: ['ann'],
    });

    const error = await store.groups
      .create({ id, organizationId: 'org-b', scopes: {}, memberIds: ['mallory'] })
      .catch((caught: unknown) => caught);

    expect(isWeftError(error) && error.code).toBe('RESOURCE_ALREADY_EXISTS');
    expect(await store.groups.get(id)).toEqual(first);
  });

  it('adds members, keeping the join time of those already in and touching updatedAt', async () => {
    const id = `g${unique()}`;
    const created = new Date('2025-05-01T00:00:00.000Z');
    const later = new Date('2025-05-02T00:00:00.000Z');
    await store.groups.create(
      { id, organizationId: 'default', scopes: {}, memberIds: ['ann'] },
      created,
    );

    const group = await store.groups.addMembers(id, ['ann', 'cid', 'cid'], later);

    expect(group!.updatedAt).toBe(later.toISOString());
    expect(group!.members).toEqual([
      { id: 'ann', addedAt: created.toISOString() },
      { id: 'cid', addedAt: later.toISOString() },
    ]);
  });

  it('removes members and ignores users who were not in the group', async () => {
    const id = `g${unique()}`;
    await store.groups.create({
      id,
      organizationId: 'default',
      scopes: {},
      memberIds: ['ann', 'bob'],
    });

    const group = await store.groups.removeMembers(id, ['bob', 'zed']);

    expect(group!.members.map((m) => m.id)).toEqual(['ann']);
  });

  it('answers undefined when changing members of a group that does not exist', async () => {
    const id = `g${unique()}`;

    expect(await store.groups.addMembers(id, ['ann'])).toBeUndefined();
    expect(await store.groups.removeMembers(id, ['ann'])).toBeUndefined();
    expect(await store.groups.get(id)).toBeUndefined();
  });

  it('deletes a group with its memberships', async () => {
    const id = `g${unique()}`;
    const member = `u${unique()}`;
    await store.groups.create({ id, organizationId: 'default', scopes: {}, memberIds: [member] });

    expect(await store.groups.delete(id)).toBe(true);
    expect(await store.groups.delete(id)).toBe(false);
    expect(await store.groups.get(id)).toBeUndefined();
    expect((await store.groups.list({ memberId: member, limit: 10 })).groups).toEqual([]);
  });

  it('never leaves members of a group deleted while members are added', async () => {
    const ids = Array.from({ length: 10 }, () => `g${unique()}`);
    for (const id of ids) {
      await store.groups.create({ id, organizationId: 'default', scopes: {}, memberIds: ['ann'] });
    }

    await Promise.all(
      ids.flatMap((id) => [store.groups.addMembers(id, ['bob', 'cid']), store.groups.delete(id)]),
    );
    const orphans = await store.db
      .selectFrom('group_members')
      .select('group_id')
      .where('group_id', 'in', ids)
      .execute();

    expect(orphans).toEqual([]);
  });

  it('lists groups by organization and by member, page by page in id order', async () => {
    const org = `org${unique()}`;
    const member = `u${unique()}`;
    const ids = [`a${unique()}`, `b${unique()}`, `c${unique()}`];
    for (const id of ids) {
      await store.groups.create({ id, organizationId: org, scopes: {}, memberIds: [member] });
    }
    await store.groups.create({
      id: `d${unique()}`,
      organizationId: 'elsewhere',
      scopes: {},
      memberIds: [member],
    });

    const first = await store.groups.list({ organizationId: org, limit: 2 });
    const second = await store.groups.list({
      organizationId: org,
      limit: 2,
      startingAfter: first.nextCursor!,
    });
    const ofMemberInOrg = await store.groups.list({
      organizationId: org,
      memberId: member,
      limit: 10,
    });
    const ofMember = await store.groups.list({ memberId: member, limit: 10 });

    expect(first.groups.map((g) => g.id)).toEqual(ids.slice(0, 2));
    expect(second.groups.map((g) => g.id)).toEqual(ids.slice(2));
    expect(second.nextCursor).toBeNull();
    expect(ofMemberInOrg.groups.map((g) => g.id)).toEqual(ids);
    expect(ofMember.groups).toHaveLength(4);
  });
});
