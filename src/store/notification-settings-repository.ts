import type { Kysely, Transaction } from 'kysely';

import { WeftError } from '../errors.js';
import type { Database } from './schema.js';

/** The channels `@liveblocks/core` 3.24.2 knows, in the order it lists them. */
export const NOTIFICATION_CHANNELS = ['email', 'slack', 'teams', 'webPush'] as const;

/** A notification channel. */
export type NotificationChannel = (typeof NOTIFICATION_CHANNELS)[number];

/** Per kind (`thread`, `textMention`, custom `$kind`s), whether it notifies on a channel. */
export type NotificationChannelSettings = Record<string, boolean>;

/** A user's settings on every channel, as `GET …/notification-settings` answers them. */
export type NotificationSettings = Record<NotificationChannel, NotificationChannelSettings>;

/** A partial update: only the channels and kinds given change. */
export type NotificationSettingsPatch = Partial<
  Record<NotificationChannel, NotificationChannelSettings>
>;

/** Whose settings: a user within one organization. */
export interface NotificationSettingsOwner {
  readonly organizationId: string;
  readonly userId: string;
}

/**
 * The kinds every channel has, with what a user who never changed them gets. Liveblocks takes
 * these from its dashboard; Weft has none, so every built-in kind notifies until turned off.
 */
export const DEFAULT_NOTIFICATION_KINDS: Readonly<NotificationChannelSettings> = Object.freeze({
  thread: true,
  textMention: true,
});

/**
 * Most kinds one user may have on one channel, built-in kinds included: custom kind names are
 * free text, and without a bound one user's settings could grow without end.
 */
export const MAX_NOTIFICATION_KINDS_PER_CHANNEL = 50;

/** Longest custom kind name, `$` included, in characters. */
export const MAX_NOTIFICATION_KIND_LENGTH = 128;

/** True for `thread`, `textMention` and `$` followed by 1–127 characters. */
export function isNotificationKind(kind: string): boolean {
  if (Object.hasOwn(DEFAULT_NOTIFICATION_KINDS, kind)) return true;
  return kind.startsWith('$') && kind.length >= 2 && kind.length <= MAX_NOTIFICATION_KIND_LENGTH;
}

/** True for the channels of {@link NOTIFICATION_CHANNELS}. */
export function isNotificationChannel(channel: string): channel is NotificationChannel {
  return (NOTIFICATION_CHANNELS as readonly string[]).includes(channel);
}

/**
 * Users' notification settings, owned by (organization, user). A row holds one kind on one
 * channel that the user set; everything else reads as {@link DEFAULT_NOTIFICATION_KINDS}.
 */
export class NotificationSettingsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** The user's settings on every channel, defaults filled in. */
  async get(owner: NotificationSettingsOwner): Promise<NotificationSettings> {
    return readSettings(this.db, owner);
  }

  /**
   * Applies the given kinds over the current settings, all or nothing, and returns the full
   * settings. Throws UNPROCESSABLE_ENTITY when a channel would hold more than
   * {@link MAX_NOTIFICATION_KINDS_PER_CHANNEL} kinds; nothing is written then.
   */
  async update(
    owner: NotificationSettingsOwner,
    patch: NotificationSettingsPatch,
  ): Promise<NotificationSettings> {
    const rows = Object.entries(patch).flatMap(([channel, kinds]) =>
      Object.entries(kinds ?? {}).map(([kind, enabled]) => ({
        organization_id: owner.organizationId,
        user_id: owner.userId,
        channel,
        kind,
        enabled: enabled ? 1 : 0,
      })),
    );
    if (rows.length === 0) return this.get(owner);

    return this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('notification_settings')
        .values(rows)
        .onConflict((oc) =>
          oc
            .columns(['organization_id', 'user_id', 'channel', 'kind'])
            .doUpdateSet((eb) => ({ enabled: eb.ref('excluded.enabled') })),
        )
        .execute();

      const settings = await readSettings(trx, owner);
      for (const channel of NOTIFICATION_CHANNELS) {
        const count = Object.keys(settings[channel]).length;
        if (count > MAX_NOTIFICATION_KINDS_PER_CHANNEL) {
          throw new WeftError(
            'UNPROCESSABLE_ENTITY',
            `The ${channel} channel would hold ${count} notification kinds; at most ${MAX_NOTIFICATION_KINDS_PER_CHANNEL} are allowed.`,
          );
        }
      }
      return settings;
    });
  }

  /** Returns the user to the defaults on every channel. */
  async delete(owner: NotificationSettingsOwner): Promise<void> {
    await this.db
      .deleteFrom('notification_settings')
      .where('organization_id', '=', owner.organizationId)
      .where('user_id', '=', owner.userId)
      .execute();
  }
}

async function readSettings(
  db: Kysely<Database> | Transaction<Database>,
  owner: NotificationSettingsOwner,
): Promise<NotificationSettings> {
  const rows = await db
    .selectFrom('notification_settings')
    .select(['channel', 'kind', 'enabled'])
    .where('organization_id', '=', owner.organizationId)
    .where('user_id', '=', owner.userId)
    .orderBy('channel')
    .orderBy('kind')
    .execute();

  const settings = Object.fromEntries(
    NOTIFICATION_CHANNELS.map((channel) => [channel, { ...DEFAULT_NOTIFICATION_KINDS }]),
  ) as NotificationSettings;
  for (const row of rows) {
    // Rows of channels this version does not know are kept but not shown.
    if (isNotificationChannel(row.channel)) settings[row.channel][row.kind] = row.enabled === 1;
  }
  return settings;
}
