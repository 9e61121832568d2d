import type { Kysely, Transaction } from 'kysely';

import { WeftError } from '../errors.js';
import type { Database } from './schema.js';

/** What a group is used for; `mention: true` lets users mention it in comments. */
export interface GroupScopes {
  mention?: boolean;
}

/** A member of a group. */
export interface GroupMember {
  id: string;
  /** ISO-8601 time the user joined the group. */
  addedAt: string;
}

/** A mention group. Its id is unique across the project; its organization never changes. */
export interface GroupRecord {
  id: string;
  organizationId: string;
  createdAt: string;
  updatedAt: string;
  scopes: GroupScopes;
  /** In the order they joined. */
  members: GroupMember[];
}

/** What {@link GroupRepository.create} needs. */
export interface NewGroup {
  id: string;
  organizationId: string;
  scopes: GroupScopes;
  memberIds: readonly string[];
}

/** Filters of {@link GroupRepository.list}. */
export interface GroupListFilter {
  /** Only this organization's groups; every organization when absent. */
  organizationId?: string;
  /** Only groups this user is a member of. */
  memberId?: string;
  /** A `nextCursor` of an earlier page: the last group id it held. */
  startingAfter?: string;
  /** At most this many groups. */
  limit: number;
}

/** Mention groups and their members. Every multi-row change runs in one transaction. */
export class GroupRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Inserts the group with its members; throws RESOURCE_ALREADY_EXISTS when the id is taken. */
  async create(group: NewGroup, now = new Date()): Promise<GroupRecord> {
    const at = now.toISOString();

    return this.db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('groups')
        .values({
          id: group.id,
          organization_id: group.organizationId,
          created_at: at,
          updated_at: at,
          scopes: JSON.stringify(group.scopes),
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) {
        throw new WeftError('RESOURCE_ALREADY_EXISTS', `Group "${group.id}" already exists.`);
      }

      await insertMembers(trx, group.id, group.memberIds, at);
      return (await readGroup(trx, group.id))!;
    });
  }

  async get(id: string): Promise<GroupRecord | undefined> {
    return readGroup(this.db, id);
  }

  /** One page of groups in id order; `nextCursor` is set only when another page follows. */
  async list(
    filter: GroupListFilter,
  ): Promise<{ groups: GroupRecord[]; nextCursor: string | null }> {
    let query = this.db
      .selectFrom('groups')
      .selectAll('groups')
      .orderBy('groups.id')
      .limit(filter.limit + 1);
    if (filter.organizationId !== undefined) {
      query = query.where('groups.organization_id', '=', filter.organizationId);
    }
    if (filter.memberId !== undefined) {
      const memberId = filter.memberId;
      query = query.where((eb) =>
        eb.exists(
          eb
            .selectFrom('group_members')
            .select('group_members.group_id')
            .whereRef('group_members.group_id', '=', 'groups.id')
            .where('group_members.user_id', '=', memberId),
        ),
      );
    }
    if (filter.startingAfter !== undefined) {
      query = query.where('groups.id', '>', filter.startingAfter);
    }

    const rows = await query.execute();
    const page = rows.slice(0, filter.limit);
    const members = await readMembers(
      this.db,
      page.map((row) => row.id),
    );
    const groups = page.map((row) => toRecord(row, members.get(row.id) ?? []));
    const last = groups[groups.length - 1];
    return { groups, nextCursor: rows.length > filter.limit && last ? last.id : null };
  }

  /**
   * Adds users to the group (members already in it keep their join time) and touches
   * `updatedAt`. Returns the group, or undefined when there is no such group.
   */
  async addMembers(
    id: string,
    memberIds: readonly string[],
    now = new Date(),
  ): Promise<GroupRecord | undefined> {
    const at = now.toISOString();

    return this.db.transaction().execute(async (trx) => {
      if (!(await touch(trx, id, at))) return undefined;

      await insertMembers(trx, id, memberIds, at);
      return readGroup(trx, id);
    });
  }

  /** Removes users from the group (non-members are ignored) and touches `updatedAt`. */
  async removeMembers(
    id: string,
    memberIds: readonly string[],
    now = new Date(),
  ): Promise<GroupRecord | undefined> {
    const at = now.toISOString();

    return this.db.transaction().execute(async (trx) => {
      if (!(await touch(trx, id, at))) return undefined;

      if (memberIds.length > 0) {
        await trx
          .deleteFrom('group_members')
          .where('group_id', '=', id)
          .where('user_id', 'in', memberIds)
          .execute();
      }
      return readGroup(trx, id);
    });
  }

  /** Deletes the group and its memberships. Returns false when there was no such group. */
  async delete(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const result = await trx.deleteFrom('groups').where('id', '=', id).executeTakeFirst();
      await trx.deleteFrom('group_members').where('group_id', '=', id).execute();
      return Number(result.numDeletedRows) > 0;
    });
  }
}

type Db = Kysely<Database> | Transaction<Database>;

/**
 * Sets `updatedAt`. The update also takes the row lock on Postgres, so that a concurrent delete
 * waits for this transaction instead of leaving members of a group that is gone.
 */
async function touch(trx: Transaction<Database>, id: string, at: string): Promise<boolean> {
  const result = await trx
    .updateTable('groups')
    .set({ updated_at: at })
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

async function insertMembers(
  trx: Transaction<Database>,
  groupId: string,
  memberIds: readonly string[],
  at: string,
) {
  const unique = [...new Set(memberIds)];
  if (unique.length === 0) return;

  await trx
    .insertInto('group_members')
    .values(unique.map((userId) => ({ group_id: groupId, user_id: userId, added_at: at })))
    .onConflict((oc) => oc.columns(['group_id', 'user_id']).doNothing())
    .execute();
}

async function readGroup(db: Db, id: string): Promise<GroupRecord | undefined> {
  const row = await db.selectFrom('groups').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) return undefined;

  const members = await readMembers(db, [id]);
  return toRecord(row, members.get(id) ?? []);
}

async function readMembers(db: Db, groupIds: string[]): Promise<Map<string, GroupMember[]>> {
  const byGroup = new Map<string, GroupMember[]>();
  if (groupIds.length === 0) return byGroup;

  const rows = await db
    .selectFrom('group_members')
    .selectAll()
    .where('group_id', 'in', groupIds)
    .orderBy('added_at')
    .orderBy('user_id')
    .execute();
  for (const row of rows) {
    const members = byGroup.get(row.group_id) ?? [];
    members.push({ id: row.user_id, addedAt: row.added_at });
    byGroup.set(row.group_id, members);
  }
  return byGroup;
}

function toRecord(
  row: {
    id: string;
    organization_id: string;
    created_at: string;
    updated_at: string;
    scopes: string;
  },
  members: GroupMember[],
): GroupRecord {
  return {
    id: row.id,
    organizationId: row.organization_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    scopes: JSON.parse(row.scopes) as GroupScopes,
    members,
  };
}
