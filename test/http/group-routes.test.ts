import { randomUUID } from 'node:crypto';

import { Liveblocks } from '@liveblocks/node';
import { describe, expect, it } from 'vitest';

import { startNode } from '../support/start-node.js';

const node = await startNode();
const liveblocks = new Liveblocks({ secret: node.secret, baseUrl: node.url });

/** Ids of lowercase letters and digits sort alike under every collation. */
const unique = () => randomUUID().replaceAll('-', '').slice(0, 12);

/** A REST call without the SDK, for what the SDK cannot send. */
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

describe('mention group routes', () => {
  it('creates a group that the SDK reads back with its types', async () => {
    const groupId = `g${unique()}`;
    const before = Date.now();

    const created = await liveblocks.createGroup({
      groupId,
      memberIds: ['ann', 'bob'],
      organizationId: 'acme',
    });

    expect(created).toMatchObject({
      type: 'group',
      id: groupId,
      organizationId: 'acme',
      tenantId: 'acme',
      scopes: { mention: true },
      members: [{ id: 'ann' }, { id: 'bob' }],
    });
    expect(created.createdAt).toBeInstanceOf(Date);
    expect(created.createdAt.getTime()).toBeGreaterThanOrEqual(before - 1);
    expect(created.updatedAt).toEqual(created.createdAt);
    expect(created.members[0]!.addedAt).toBeInstanceOf(Date);
    expect(await liveblocks.getGroup({ groupId })).toEqual(created);
  });

  it('puts a group without organizationId in "default" and keeps the given scopes', async () => {
    const groupId = `g${unique()}`;

    const created = await liveblocks.createGroup({ groupId, scopes: {} });

    expect(created).toMatchObject({ organizationId: 'default', scopes: {}, members: [] });
  });

  it('answers 409 for an id that exists, in any organization', async () => {
    const groupId = `g${unique()}`;
    await liveblocks.createGroup({ groupId, organizationId: 'org-a' });

    await expect(
      liveblocks.createGroup({ groupId, organizationId: 'org-b', memberIds: ['mallory'] }),
    ).rejects.toMatchObject({ status: 409 });
    expect(await liveblocks.getGroup({ groupId })).toMatchObject({
      organizationId: 'org-a',
      members: [],
    });
  });

  it('adds and removes members', async () => {
    const groupId = `g${unique()}`;
    await liveblocks.createGroup({ groupId, memberIds: ['ann'] });

    const added = await liveblocks.addGroupMembers({ groupId, memberIds: ['bob', 'cid'] });
    const removed = await liveblocks.removeGroupMembers({ groupId, memberIds: ['ann', 'zed'] });

    expect(added.members.map((m) => m.id)).toEqual(['ann', 'bob', 'cid']);
    expect(removed.members.map((m) => m.id)).toEqual(['bob', 'cid']);
    expect(removed.updatedAt.getTime()).toBeGreaterThanOrEqual(added.createdAt.getTime());
  });

  it('deletes a group, then answers 404 for it everywhere', async () => {
    const groupId = `g${unique()}`;
    await liveblocks.createGroup({ groupId, memberIds: ['ann'] });

    await liveblocks.deleteGroup({ groupId });

    await expect(liveblocks.getGroup({ groupId })).rejects.toMatchObject({ status: 404 });
    await expect(liveblocks.deleteGroup({ groupId })).rejects.toMatchObject({ status: 404 });
    await expect(liveblocks.addGroupMembers({ groupId, memberIds: ['bob'] })).rejects.toMatchObject(
      { status: 404 },
    );
    await expect(
      liveblocks.removeGroupMembers({ groupId, memberIds: ['ann'] }),
    ).rejects.toMatchObject({ status: 404 });
  });

  it('refuses invalid bodies without writing anything', async () => {
    const groupId = `g${unique()}`;
    const tooMany = Array.from({ length: 101 }, (_, i) => `user-${i}`);

    const results = [
      await call('POST', '/v2/groups', { id: '' }),
      await call('POST', '/v2/groups', { id: groupId, scopes: { mention: true, admin: true } }),
      await call('POST', '/v2/groups', { id: groupId, memberIds: tooMany }),
      await call('POST', '/v2/groups', { id: groupId, memberIds: [42] }),
      await call('POST', '/v2/groups', { id: groupId, groupId: 'other' }),
      await call('POST', '/v2/groups', { id: groupId, color: 'red' }),
    ];

    for (const result of results) {
      expect(result).toMatchObject({ status: 422, body: { error: 'UNPROCESSABLE_ENTITY' } });
    }
    await expect(liveblocks.getGroup({ groupId })).rejects.toMatchObject({ status: 404 });
  });

  it('lists groups page by page', async () => {
    const org = `org${unique()}`;
    const ids = [`a${unique()}`, `b${unique()}`, `c${unique()}`];
    for (const groupId of ids) await liveblocks.createGroup({ groupId, organizationId: org });

    const first = await call('GET', `/v2/groups?organizationId=${org}&limit=2`);
    const second = await call(
      'GET',
      `/v2/groups?organizationId=${org}&limit=2&startingAfter=${first.body.nextCursor as string}`,
    );
    const everything = [];
    let cursor: string | undefined;
    do {
      const page = await liveblocks.getGroups({ limit: 100, startingAfter: cursor });
      everything.push(...page.data.map((g) => g.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);

    expect((first.body.data as { id: string }[]).map((g) => g.id)).toEqual(ids.slice(0, 2));
    expect((second.body.data as { id: string }[]).map((g) => g.id)).toEqual(ids.slice(2));
    expect(second.body.nextCursor).toBeNull();
    expect(everything).toEqual(expect.arrayContaining(ids));
  });

  it("lists a user's groups, filtered by organization when asked", async () => {
    const userId = `u${unique()}`;
    const inA = `a${unique()}`;
    const inB = `b${unique()}`;
    await liveblocks.createGroup({ groupId: inA, organizationId: 'org-a', memberIds: [userId] });
    await liveblocks.createGroup({ groupId: inB, organizationId: 'org-b', memberIds: [userId] });
    await liveblocks.createGroup({ groupId: `c${unique()}`, memberIds: ['someone-else'] });

    const all = await liveblocks.getUserGroups({ userId });
    const onlyA = await call('GET', `/v2/users/${userId}/groups?organizationId=org-a`);

    expect(all.data.map((g) => g.id)).toEqual([inA, inB]);
    expect(all.data[0]!.createdAt).toBeInstanceOf(Date);
    expect((onlyA.body.data as { id: string }[]).map((g) => g.id)).toEqual([inA]);
  });

  it('keeps organization B’s groups out of the lists made for organization A', async () => {
    const userId = `u${unique()}`;
    const ofB = `g${unique()}`;
    await liveblocks.createGroup({ groupId: ofB, organizationId: 'org-b', memberIds: [userId] });

    const groupsOfA = await call('GET', '/v2/groups?organizationId=org-a&limit=100');
    const userGroupsOfA = await call('GET', `/v2/users/${userId}/groups?organizationId=org-a`);

    expect((groupsOfA.body.data as { id: string }[]).map((g) => g.id)).not.toContain(ofB);
    expect(userGroupsOfA.body.data).toEqual([]);
  });
});
