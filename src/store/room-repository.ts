import type { Kysely, Selectable, Transaction } from 'kysely';

import { WeftError } from '../errors.js';
import type { Database, RoomTable } from './schema.js';
import type { StoreDialect } from './store.js';

/** Room metadata values: a string or a list of strings. */
export type RoomMetadata = Record<string, string | string[]>;

/** A room as the REST API and the gateway see it. */
export interface RoomRecord {
  id: string;
  organizationId: string;
  createdAt: string;
  lastConnectionAt: string | null;
  defaultAccesses: string[];
  usersAccesses: Record<string, string[]>;
  groupsAccesses: Record<string, string[]>;
  metadata: RoomMetadata;
}

/** Filters of {@link RoomRepository.list}. */
export interface RoomListFilter {
  /** Only rooms of this organization; all organizations when absent. */
  organizationId?: string;
  /** Only ids starting with this prefix. */
  idPrefix?: string;
  /** Rooms whose id sorts after this one (the cursor). */
  startingAfter?: string;
  /** Further filter applied in memory (metadata, user and group accesses). */
  where?: (room: RoomRecord) => boolean;
  /** At most this many rooms. */
  limit: number;
}

/** How many rows a list reads per round when it filters in memory. */
const LIST_BATCH_ROWS = 500;

/**
 * Longest room id, in UTF-16 code units: the longest id an access-token pattern can name
 * (`@liveblocks/node` allows 1–128 characters per pattern).
 */
export const MAX_ROOM_ID_LENGTH = 128;

/**
 * Why a string cannot be a room id, or undefined when it can: 1–128 characters, none of them
 * `*` or a control character. Every way of creating a room (REST, a join with an access token)
 * applies this one rule.
 */
export function roomIdProblem(id: string): string | undefined {
  if (id.length === 0) return 'a room id cannot be empty';
  if (id.length > MAX_ROOM_ID_LENGTH) {
    return `a room id has at most ${MAX_ROOM_ID_LENGTH} characters, got ${id.length}`;
  }
  // `*` would read as a wildcard in token patterns; control characters break logs and headers.
  for (const char of id) {
    const code = char.charCodeAt(0);
    if (char === '*' || code < 0x20 || (code >= 0x7f && code < 0xa0)) {
      return 'a room id cannot contain "*" or control characters';
    }
  }
  return undefined;
}

/** Rooms, keyed by an id unique across the project. */
export class RoomRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
  ) {}

  async get(id: string): Promise<RoomRecord | undefined> {
    const row = await this.db
      .selectFrom('rooms')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  /** Inserts a room; throws ROOM_ALREADY_EXISTS when the id is taken. */
  async create(room: RoomRecord): Promise<RoomRecord> {
    const created = await this.insertIfAbsent(room);
    if (!created) throw new WeftError('ROOM_ALREADY_EXISTS', `Room "${room.id}" already exists.`);
    return room;
  }

  /**
   * Inserts the room unless its id exists, atomically, and returns the stored room: the new one
   * or the one that was there (whose organization may differ: callers must check).
   */
  async createIfAbsent(room: RoomRecord): Promise<{ room: RoomRecord; created: boolean }> {
    if (await this.insertIfAbsent(room)) return { room, created: true };

    const existing = await this.get(room.id);
    // Deleted between the two statements: rare enough to report as a conflict.
    if (!existing) throw new WeftError('ROOM_ALREADY_EXISTS', `Room "${room.id}" changed, retry.`);
    return { room: existing, created: false };
  }

  /**
   * Reads, changes and writes a room in one transaction. Returns undefined when it does not
   * exist. `change` may throw a WeftError to refuse the update; nothing is written then.
   */
  async update(
    id: string,
    change: (room: RoomRecord) => RoomRecord,
  ): Promise<RoomRecord | undefined> {
    return this.db.transaction().execute(async (trx) => {
      // Postgres: lock the row, or two updates read the same room and the second write loses the
      // first one's change. SQLite runs one transaction at a time and has no FOR UPDATE.
      const row = await trx
        .selectFrom('rooms')
        .selectAll()
        .where('id', '=', id)
        .$if(this.dialect === 'postgres', (query) => query.forUpdate())
        .executeTakeFirst();
      if (!row) return undefined;

      const next = change(toRecord(row));
      await trx
        .updateTable('rooms')
        .set({
          default_accesses: JSON.stringify(next.defaultAccesses),
          users_accesses: JSON.stringify(next.usersAccesses),
          groups_accesses: JSON.stringify(next.groupsAccesses),
          metadata: JSON.stringify(next.metadata),
          last_connection_at: next.lastConnectionAt,
        })
        .where('id', '=', id)
        .execute();
      return next;
    });
  }

  /** Deletes a room and everything stored under it. Returns false when it did not exist. */
  async delete(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const result = await trx.deleteFrom('rooms').where('id', '=', id).executeTakeFirst();
      await deleteRoomData(trx, id);
      return Number(result.numDeletedRows) > 0;
    });
  }

  /**
   * Moves a room to a new id, with its log, snapshot and settings. Throws ROOM_NOT_FOUND or
   * ROOM_ALREADY_EXISTS; nothing changes then.
   */
  async rename(id: string, newId: string): Promise<RoomRecord> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('rooms').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) throw new WeftError('ROOM_NOT_FOUND', `Room "${id}" does not exist.`);

      const taken = await trx
        .selectFrom('rooms')
        .select('id')
        .where('id', '=', newId)
        .executeTakeFirst();
      if (taken) throw new WeftError('ROOM_ALREADY_EXISTS', `Room "${newId}" already exists.`);

      await trx.updateTable('rooms').set({ id: newId }).where('id', '=', id).execute();
      await trx.updateTable('room_log').set({ room_id: newId }).where('room_id', '=', id).execute();
      await trx
        .updateTable('room_snapshots')
        .set({ room_id: newId })
        .where('room_id', '=', id)
        .execute();
      await trx
        .updateTable('subscription_settings')
        .set({ room_id: newId })
        .where('room_id', '=', id)
        .execute();
      await trx
        .updateTable('inbox_notifications')
        .set({ room_id: newId })
        .where('room_id', '=', id)
        .execute();
      return { ...toRecord(row), id: newId };
    });
  }

  /**
   * Rooms in id order after the cursor, filtered. `nextCursor` (the last id returned) is set
   * exactly when at least one more room matches: the list reads one match past the page.
   */
  async list(filter: RoomListFilter): Promise<{ rooms: RoomRecord[]; nextCursor: string | null }> {
    const rooms: RoomRecord[] = [];
    let after = filter.startingAfter;

    for (;;) {
      let query = this.db.selectFrom('rooms').selectAll().orderBy('id').limit(LIST_BATCH_ROWS);
      if (filter.organizationId !== undefined) {
        query = query.where('organization_id', '=', filter.organizationId);
      }
      if (filter.idPrefix !== undefined && filter.idPrefix !== '') {
        // Range scan instead of LIKE: ids may contain % and _.
        const end = prefixEnd(filter.idPrefix);
        query = query.where('id', '>=', filter.idPrefix);
        if (end !== undefined) query = query.where('id', '<', end);
      }
      if (after !== undefined) query = query.where('id', '>', after);

      const rows = await query.execute();
      for (const row of rows) {
        const room = toRecord(row);
        if (filter.where && !filter.where(room)) continue;
        if (rooms.length === filter.limit) {
          return { rooms, nextCursor: rooms[rooms.length - 1]!.id };
        }
        rooms.push(room);
      }
      if (rows.length < LIST_BATCH_ROWS) return { rooms, nextCursor: null };
      after = rows[rows.length - 1]!.id;
    }
  }

  /** Records the time of the latest connection to the room. */
  async touchConnection(id: string, at: string): Promise<void> {
    await this.db
      .updateTable('rooms')
      .set({ last_connection_at: at })
      .where('id', '=', id)
      .execute();
  }

  /**
   * Hands out the next actor id of the room (1, 2, …), never reused for the room's whole life.
   * Throws ROOM_NOT_FOUND when the room does not exist.
   */
  async nextActor(id: string): Promise<number> {
    const row = await this.db
      .updateTable('rooms')
      .set((eb) => ({ actor_counter: eb('actor_counter', '+', 1) }))
      .where('id', '=', id)
      .returning('actor_counter')
      .executeTakeFirst();
    if (!row) throw new WeftError('ROOM_NOT_FOUND', `Room "${id}" does not exist.`);
    return Number(row.actor_counter);
  }

  /** Highest actor id handed out so far (0 when none). */
  async actorCounter(id: string): Promise<number> {
    const row = await this.db
      .selectFrom('rooms')
      .select('actor_counter')
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? Number(row.actor_counter) : 0;
  }

  /** Raises the stored actor counter to `value` when it is lower. */
  async raiseActorCounter(id: string, value: number): Promise<void> {
    await this.db
      .updateTable('rooms')
      .set({ actor_counter: value })
      .where('id', '=', id)
      .where('actor_counter', '<', value)
      .execute();
  }

  private async insertIfAbsent(room: RoomRecord): Promise<boolean> {
    const result = await this.db
      .insertInto('rooms')
      .values({
        id: room.id,
        organization_id: room.organizationId,
        created_at: room.createdAt,
        last_connection_at: room.lastConnectionAt,
        default_accesses: JSON.stringify(room.defaultAccesses),
        users_accesses: JSON.stringify(room.usersAccesses),
        groups_accesses: JSON.stringify(room.groupsAccesses),
        metadata: JSON.stringify(room.metadata),
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
  }
}

async function deleteRoomData(trx: Transaction<Database>, id: string) {
  await trx.deleteFrom('room_log').where('room_id', '=', id).execute();
  await trx.deleteFrom('room_snapshots').where('room_id', '=', id).execute();
  await trx.deleteFrom('subscription_settings').where('room_id', '=', id).execute();
}

function toRecord(row: Selectable<RoomTable>): RoomRecord {
  return {
    id: row.id,
    organizationId: row.organization_id,
    createdAt: row.created_at,
    lastConnectionAt: row.last_connection_at,
    defaultAccesses: JSON.parse(row.default_accesses) as string[],
    usersAccesses: JSON.parse(row.users_accesses) as Record<string, string[]>,
    groupsAccesses: JSON.parse(row.groups_accesses) as Record<string, string[]>,
    metadata: JSON.parse(row.metadata) as RoomMetadata,
  };
}

/**
 * The smallest string above every string that starts with `prefix`, in code point order (the
 * order of both dialects, see migrations.ts): the prefix with its last code point raised by one.
 * Undefined when no such string exists (the prefix is all U+10FFFF). A suffix such as U+FFFF
 * would miss ids that continue with a character beyond U+FFFF, an emoji for example.
 */
function prefixEnd(prefix: string): string | undefined {
  const codePoints = [...prefix].map((char) => char.codePointAt(0)!);
  while (codePoints.length > 0) {
    const last = codePoints.pop()!;
    if (last === 0x10ffff) continue;
    // UTF-16 surrogates are no characters: the code point after U+D7FF is U+E000.
    const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
    return String.fromCodePoint(...codePoints, next);
  }
  return undefined;
}
