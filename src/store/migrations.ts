import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

import type { StoreDialect } from './store.js';

/**
 * Schema migrations, applied in name order at start. Never edit a migration that has shipped:
 * add a new one. Column types are chosen to mean the same in SQLite and Postgres.
 */
function migrations(dialect: StoreDialect): Record<string, Migration> {
  // SQLite calls its byte strings blob, Postgres bytea; both come back as a Buffer.
  const bytes = dialect === 'postgres' ? 'bytea' : 'blob';
  // Room ids are listed in order and matched by prefix. Postgres compares text by the database's
  // collation (often en_US: 'B' after 'a', punctuation nearly ignored), SQLite by code point:
  // collate "C" makes Postgres compare by code point too, so both dialects list alike.
  const orderedText = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;

  return {
    '0001_initial': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('signing_keys')
          .addColumn('kid', 'text', (c) => c.primaryKey())
          .addColumn('private_jwk', 'text', (c) => c.notNull())
          .addColumn('public_jwk', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('rooms')
          .addColumn('id', orderedText, (c) => c.primaryKey())
          .addColumn('organization_id', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('last_connection_at', 'text')
          .addColumn('default_accesses', 'text', (c) => c.notNull())
          .addColumn('users_accesses', 'text', (c) => c.notNull())
          .addColumn('groups_accesses', 'text', (c) => c.notNull())
          .addColumn('metadata', 'text', (c) => c.notNull())
          .addColumn('actor_counter', 'bigint', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema
          .createIndex('rooms_by_organization')
          .on('rooms')
          .columns(['organization_id', 'id'])
          .execute();

        await db.schema
          .createTable('room_log')
          .addColumn('room_id', 'text', (c) => c.notNull())
          .addColumn('seq', 'bigint', (c) => c.notNull())
          .addColumn('entry', bytes, (c) => c.notNull())
          .addPrimaryKeyConstraint('room_log_pk', ['room_id', 'seq'])
          .execute();

        await db.schema
          .createTable('room_snapshots')
          .addColumn('room_id', 'text', (c) => c.primaryKey())
          .addColumn('seq', 'bigint', (c) => c.notNull())
          .addColumn('snapshot', bytes, (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('inbox_notifications')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('organization_id', 'text', (c) => c.notNull())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('subject_id', 'text', (c) => c.notNull())
          .addColumn('room_id', 'text')
          .addColumn('activity_data', 'text', (c) => c.notNull())
          .addColumn('notified_at', 'text', (c) => c.notNull())
          .addColumn('read_at', 'text')
          .execute();
        await db.schema
          .createIndex('inbox_notifications_by_user')
          .on('inbox_notifications')
          .columns(['user_id', 'organization_id', 'notified_at'])
          .execute();

        await db.schema
          .createTable('subscription_settings')
          .addColumn('room_id', 'text', (c) => c.notNull())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('organization_id', 'text', (c) => c.notNull())
          .addColumn('threads', 'text', (c) => c.notNull())
          .addColumn('text_mentions', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('subscription_settings_pk', ['room_id', 'user_id'])
          .execute();
        await db.schema
          .createIndex('subscription_settings_by_user')
          .on('subscription_settings')
          .columns(['user_id', 'organization_id', 'room_id'])
          .execute();

        await db.schema
          .createTable('groups')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('organization_id', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('scopes', 'text', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('group_members')
          .addColumn('group_id', 'text', (c) => c.notNull())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('added_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('group_members_pk', ['group_id', 'user_id'])
          .execute();
        await db.schema
          .createIndex('group_members_by_user')
          .on('group_members')
          .columns(['user_id', 'group_id'])
          .execute();
      },
    },
    '0002_notification_settings': {
      async up(db: Kysely<unknown>) {
        // One row per (channel, kind) a user changed from its default; 0 or 1 in `enabled`
        // reads the same in SQLite and Postgres.
        await db.schema
          .createTable('notification_settings')
          .addColumn('organization_id', 'text', (c) => c.notNull())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('channel', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('enabled', 'integer', (c) => c.notNull())
          .addPrimaryKeyConstraint('notification_settings_pk', [
            'organization_id',
            'user_id',
            'channel',
            'kind',
          ])
          .execute();
      },
    },
  };
}

/** Feeds the migrations above to Kysely's Migrator without reading files at run time. */
export function migrationProvider(dialect: StoreDialect): MigrationProvider {
  return {
    async getMigrations() {
      return migrations(dialect);
    },
  };
}
