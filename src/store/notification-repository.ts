import { randomBytes } from 'node:crypto';

import type { Kysely, Selectable } from 'kysely';

import { WeftError } from '../errors.js';
import type { Database, InboxNotificationTable } from './schema.js';

/** What a custom notification's activity carries: flat scalars, as `@liveblocks/core` types it. */
export type ActivityData = Record<string, string | number | boolean>;

/** An inbox notification as the REST API sees it. Owned by (organization, user). */
export interface InboxNotificationRecord {
  /** `in_…`, unique across the project. */
  id: string;
  organizationId: string;
  userId: string;
  /** A custom kind, starting with `$`. */
  kind: string;
  subjectId: string;
  roomId: string | null;
  activityData: ActivityData;
  /** ISO-8601 time of the (latest) activity. */
  notifiedAt: string;
  /** ISO-8601 time the user read it, or null while unread. */
  readAt: string | null;
}

/** What {@link NotificationRepository.create} needs; the id and times are its own. */
export type NewInboxNotification = Omit<InboxNotificationRecord, 'id' | 'notifiedAt' | 'readAt'>;

/** Filters of {@link NotificationRepository.list}. */
export interface NotificationListFilter {
  userId: string;
  /** Only this organization's notifications; every organization when absent. */
  organizationId?: string;
  /** true: only unread ones; false: only read ones; absent: both. */
  unread?: boolean;
  kind?: string;
  roomId?: string;
  /** A `nextCursor` of an earlier page. */
  startingAfter?: string;
  /** At most this many notifications. */
  limit: number;
}

/** Which notifications {@link NotificationRepository.markRead} and `deleteAll` cover. */
export interface NotificationScope {
  userId: string;
  /** Only this organization's notifications; every organization when absent. */
  organizationId?: string;
  /** Only these ids; all of the user's when absent. */
  ids?: readonly string[];
}

const ID_PREFIX = 'in_';
const ID_RANDOM_BYTES = 16;
/** Base-36 digits of 2^128 − 1. */
const ID_DIGITS = 25;

/**
 * Inbox notifications, newest first. Pages are cut on (notifiedAt, id), so a notification
 * triggered while a client pages through never shifts or repeats what it has not read yet.
 */
export class NotificationRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Stores a new notification, unread, notified now. */
  async create(input: NewInboxNotification, now = new Date()): Promise<InboxNotificationRecord> {
    const record: InboxNotificationRecord = {
      ...input,
      id: newNotificationId(),
      notifiedAt: now.toISOString(),
      readAt: null,
    };
    await this.db
      .insertInto('inbox_notifications')
      .values({
        id: record.id,
        organization_id: record.organizationId,
        user_id: record.userId,
        kind: record.kind,
        subject_id: record.subjectId,
        room_id: record.roomId,
        activity_data: JSON.stringify(record.activityData),
        notified_at: record.notifiedAt,
        read_at: null,
      })
      .execute();
    return record;
  }

  /** The user's notification with this id; undefined when it is another user's or absent. */
  async get(userId: string, id: string): Promise<InboxNotificationRecord | undefined> {
    const row = await this.db
      .selectFrom('inbox_notifications')
      .selectAll()
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  /** One page, newest first; `nextCursor` is set only when another page follows. */
  async list(
    filter: NotificationListFilter,
  ): Promise<{ notifications: InboxNotificationRecord[]; nextCursor: string | null }> {
    let query = this.db
      .selectFrom('inbox_notifications')
      .selectAll()
      .where('user_id', '=', filter.userId)
      .orderBy('notified_at', 'desc')
      .orderBy('id', 'desc')
      .limit(filter.limit + 1);

    if (filter.organizationId !== undefined) {
      query = query.where('organization_id', '=', filter.organizationId);
    }
    if (filter.unread === true) query = query.where('read_at', 'is', null);
    if (filter.unread === false) query = query.where('read_at', 'is not', null);
    if (filter.kind !== undefined) query = query.where('kind', '=', filter.kind);
    if (filter.roomId !== undefined) query = query.where('room_id', '=', filter.roomId);
    if (filter.startingAfter !== undefined) {
      const [notifiedAt, id] = decodeCursor(filter.startingAfter);
      query = query.where((eb) =>
        eb.or([
          eb('notified_at', '<', notifiedAt),
          eb.and([eb('notified_at', '=', notifiedAt), eb('id', '<', id)]),
        ]),
      );
    }

    const rows = await query.execute();
    const page = rows.slice(0, filter.limit).map(toRecord);
    const last = page[page.length - 1];
    const nextCursor =
      rows.length > filter.limit && last ? encodeCursor(last.notifiedAt, last.id) : null;
    return { notifications: page, nextCursor };
  }

  /**
   * Marks unread notifications in the scope as read at `now`; ones read earlier keep their time.
   * Returns how many changed.
   */
  async markRead(scope: NotificationScope, now = new Date()): Promise<number> {
    if (scope.ids?.length === 0) return 0;

    let query = this.db
      .updateTable('inbox_notifications')
      .set({ read_at: now.toISOString() })
      .where('user_id', '=', scope.userId)
      .where('read_at', 'is', null);
    if (scope.organizationId !== undefined) {
      query = query.where('organization_id', '=', scope.organizationId);
    }
    if (scope.ids !== undefined) query = query.where('id', 'in', scope.ids);

    const result = await query.executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** Deletes the user's notification with this id. Returns false when there was none. */
  async delete(userId: string, id: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('inbox_notifications')
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** Deletes every notification in the scope, in one statement. Returns how many went. */
  async deleteAll(scope: NotificationScope): Promise<number> {
    if (scope.ids?.length === 0) return 0;

    let query = this.db.deleteFrom('inbox_notifications').where('user_id', '=', scope.userId);
    if (scope.organizationId !== undefined) {
      query = query.where('organization_id', '=', scope.organizationId);
    }
    if (scope.ids !== undefined) query = query.where('id', 'in', scope.ids);

    const result = await query.executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

/** A new notification id: the `in_` prefix Liveblocks uses, then 128 random bits in base 36. */
function newNotificationId(): string {
  // Lowercase letters and digits only, so that every database collation orders ids alike.
  const random = BigInt(`0x${randomBytes(ID_RANDOM_BYTES).toString('hex')}`);
  return ID_PREFIX + random.toString(36).padStart(ID_DIGITS, '0');
}

function encodeCursor(notifiedAt: string, id: string): string {
  return Buffer.from(JSON.stringify([notifiedAt, id])).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 2 ||
    typeof parsed[0] !== 'string' ||
    typeof parsed[1] !== 'string'
  ) {
    throw new WeftError(
      'UNPROCESSABLE_ENTITY',
      'startingAfter is not a cursor this server returned; pass the nextCursor of the previous page.',
    );
  }
  return [parsed[0], parsed[1]];
}

function toRecord(row: Selectable<InboxNotificationTable>): InboxNotificationRecord {
  return {
    id: row.id,
    organizationId: row.organization_id,
    userId: row.user_id,
    kind: row.kind,
    subjectId: row.subject_id,
    roomId: row.room_id,
    activityData: JSON.parse(row.activity_data) as ActivityData,
    notifiedAt: row.notified_at,
    readAt: row.read_at,
  };
}
