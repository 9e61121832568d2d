import type { ColumnType } from 'kysely';

/**
 * Table types of the Kysely query layer. JSON values are stored as text and timestamps as
 * ISO-8601 text in both dialects, so that SQLite and Postgres return the same shapes and
 * lexical order equals time order.
 */
export interface Database {
  signing_keys: SigningKeyTable;
  rooms: RoomTable;
  room_log: RoomLogTable;
  room_snapshots: RoomSnapshotTable;
  inbox_notifications: InboxNotificationTable;
  subscription_settings: SubscriptionSettingsTable;
  groups: GroupTable;
  group_members: GroupMemberTable;
  notification_settings: NotificationSettingsTable;
}

/** ES256 key pairs that sign tokens; every node reads the same ones. */
export interface SigningKeyTable {
  kid: string;
  private_jwk: string;
  public_jwk: string;
  created_at: string;
}

/** Rooms. `id` is unique across the project; `organization_id` never changes. */
export interface RoomTable {
  id: string;
  organization_id: string;
  created_at: string;
  last_connection_at: string | null;
  /** JSON string[] */
  default_accesses: string;
  /** JSON Record<userId, string[]> */
  users_accesses: string;
  /** JSON Record<groupId, string[]> */
  groups_accesses: string;
  /** JSON Record<string, string | string[]> */
  metadata: string;
  /** Highest actor id handed out in this room (actor ids are never reused). */
  actor_counter: ColumnType<number, number | undefined, number>;
}

/** The ordered durable log of a room: Yjs updates and Storage ops, opaque to the store. */
export interface RoomLogTable {
  room_id: string;
  seq: number;
  entry: Buffer;
}

/** The latest snapshot of a room: the state covering the log up to `seq`. */
export interface RoomSnapshotTable {
  room_id: string;
  seq: number;
  snapshot: Buffer;
  updated_at: string;
}

/** Inbox notifications, owned by (organization, user). */
export interface InboxNotificationTable {
  id: string;
  organization_id: string;
  user_id: string;
  kind: string;
  subject_id: string;
  room_id: string | null;
  /** JSON activity data of the latest activity */
  activity_data: string;
  notified_at: string;
  read_at: string | null;
}

/** Room subscription settings of a user, in the room's organization. */
export interface SubscriptionSettingsTable {
  room_id: string;
  user_id: string;
  organization_id: string;
  threads: string;
  text_mentions: string;
}

/** Mention groups. */
export interface GroupTable {
  id: string;
  organization_id: string;
  created_at: string;
  updated_at: string;
  /** JSON { mention: boolean } */
  scopes: string;
}

/** Members of mention groups. */
export interface GroupMemberTable {
  group_id: string;
  user_id: string;
  added_at: string;
}

/** A notification setting a user made: one kind on one channel, in one organization. */
export interface NotificationSettingsTable {
  organization_id: string;
  user_id: string;
  /** `email`, `slack`, `teams` or `webPush` */
  channel: string;
  /** `thread`, `textMention` or a custom `$kind` */
  kind: string;
  /** 1 when the kind notifies on the channel, 0 when it does not */
  enabled: number;
}
