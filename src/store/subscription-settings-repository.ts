import type { Kysely, Transaction } from 'kysely';

import type { Database } from './schema.js';
import type { StoreDialect } from './store.js';

/** Which thread activity of a room notifies the user. */
export type ThreadsSubscription = 'all' | 'replies_and_mentions' | 'none';

/** Whether mentions in a room's text editors notify the user. */
export type TextMentionsSubscription = 'mine' | 'none';

/** A user's subscription settings for one room, as `@liveblocks/core` types them. */
export interface RoomSubscriptionSettings {
  threads: ThreadsSubscription;
  textMentions: TextMentionsSubscription;
}

/** One entry of a user's settings across rooms. */
export interface UserRoomSubscriptionSettings extends RoomSubscriptionSettings {
  roomId: string;
}

/** Filters of {@link SubscriptionSettingsRepository.listForUser}. */
export interface SubscriptionSettingsListFilter {
  userId: string;
  /** Only rooms of this organization; every organization when absent. */
  organizationId?: string;
  /** A `nextCursor` of an earlier page: the last room id it held. */
  startingAfter?: string;
  /** At most this many entries. */
  limit: number;
}

/** What a user who never changed anything gets: the Liveblocks defaults. */
export const DEFAULT_ROOM_SUBSCRIPTION_SETTINGS: Readonly<RoomSubscriptionSettings> = Object.freeze(
  { threads: 'replies_and_mentions', textMentions: 'mine' },
);

/**
 * Room subscription settings of users. A row exists only once a user changed a default; it
 * carries the room's organization so that a user's settings list can be filtered by it, and it
 * goes when the room is deleted (RoomRepository deletes it with the room).
 */
export class SubscriptionSettingsRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
  ) {}

  /** The user's settings in the room (defaults when never set); undefined when no such room. */
  async get(roomId: string, userId: string): Promise<RoomSubscriptionSettings | undefined> {
    const row = await this.db
      .selectFrom('rooms')
      .leftJoin('subscription_settings', (join) =>
        join
          .onRef('subscription_settings.room_id', '=', 'rooms.id')
          .on('subscription_settings.user_id', '=', userId),
      )
      .select(['rooms.id', 'subscription_settings.threads', 'subscription_settings.text_mentions'])
      .where('rooms.id', '=', roomId)
      .executeTakeFirst();
    if (!row) return undefined;

    if (row.threads === null || row.text_mentions === null) {
      return { ...DEFAULT_ROOM_SUBSCRIPTION_SETTINGS };
    }
    return toSettings(row.threads, row.text_mentions);
  }

  /**
   * Applies the given fields over the current settings and stores the result, in one
   * transaction. Returns the full settings, or undefined when no such room exists.
   */
  async update(
    roomId: string,
    userId: string,
    patch: Partial<RoomSubscriptionSettings>,
  ): Promise<RoomSubscriptionSettings | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const organizationId = await this.lockRoom(trx, roomId);
      if (organizationId === undefined) return undefined;

      const current = await trx
        .selectFrom('subscription_settings')
        .select(['threads', 'text_mentions'])
        .where('room_id', '=', roomId)
        .where('user_id', '=', userId)
        .executeTakeFirst();
      const next: RoomSubscriptionSettings = {
        ...(current
          ? toSettings(current.threads, current.text_mentions)
          : DEFAULT_ROOM_SUBSCRIPTION_SETTINGS),
        ...definedFields(patch),
      };

      await trx
        .insertInto('subscription_settings')
        .values({
          room_id: roomId,
          user_id: userId,
          organization_id: organizationId,
          threads: next.threads,
          text_mentions: next.textMentions,
        })
        .onConflict((oc) =>
          oc
            .columns(['room_id', 'user_id'])
            .doUpdateSet({ threads: next.threads, text_mentions: next.textMentions }),
        )
        .execute();
      return next;
    });
  }

  /** Returns the user to the defaults in the room. False when no such room exists. */
  async delete(roomId: string, userId: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const organizationId = await this.lockRoom(trx, roomId);
      if (organizationId === undefined) return false;

      await trx
        .deleteFrom('subscription_settings')
        .where('room_id', '=', roomId)
        .where('user_id', '=', userId)
        .execute();
      return true;
    });
  }

  /** One page of the rooms where the user changed a default, in room id order. */
  async listForUser(
    filter: SubscriptionSettingsListFilter,
  ): Promise<{ settings: UserRoomSubscriptionSettings[]; nextCursor: string | null }> {
    let query = this.db
      .selectFrom('subscription_settings')
      .select(['room_id', 'threads', 'text_mentions'])
      .where('user_id', '=', filter.userId)
      .orderBy('room_id')
      .limit(filter.limit + 1);
    if (filter.organizationId !== undefined) {
      query = query.where('organization_id', '=', filter.organizationId);
    }
    if (filter.startingAfter !== undefined) {
      query = query.where('room_id', '>', filter.startingAfter);
    }

    const rows = await query.execute();
    const settings = rows.slice(0, filter.limit).map((row) => ({
      roomId: row.room_id,
      ...toSettings(row.threads, row.text_mentions),
    }));
    const last = settings[settings.length - 1];
    return { settings, nextCursor: rows.length > filter.limit && last ? last.roomId : null };
  }

  /**
   * Reads the room's organization and, on Postgres, holds a share lock on the room row until the
   * transaction ends: a concurrent room deletion then waits and removes these settings too,
   * instead of leaving a row for a room that is gone. SQLite serialises writers already.
   */
  private async lockRoom(trx: Transaction<Database>, roomId: string): Promise<string | undefined> {
    let query = trx.selectFrom('rooms').select('organization_id').where('id', '=', roomId);
    if (this.dialect === 'postgres') query = query.forShare();

    const room = await query.executeTakeFirst();
    return room?.organization_id;
  }
}

function toSettings(threads: string, textMentions: string): RoomSubscriptionSettings {
  return {
    threads: threads as ThreadsSubscription,
    textMentions: textMentions as TextMentionsSubscription,
  };
}

/** Drops keys whose value is undefined, so that they cannot overwrite stored ones. */
function definedFields(
  patch: Partial<RoomSubscriptionSettings>,
): Partial<RoomSubscriptionSettings> {
  return Object.fromEntries(
    Object.entries(patch).filter(([, value]) => value !== undefined),
  ) as Partial<RoomSubscriptionSettings>;
}
