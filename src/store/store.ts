import fs from 'node:fs';
import path from 'node:path';

import Sqlite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';

import type { Logger } from '../log.js';
import { GroupRepository } from './group-repository.js';
import { migrationProvider } from './migrations.js';
import { NotificationRepository } from './notification-repository.js';
import { NotificationSettingsRepository } from './notification-settings-repository.js';
import { RoomLogRepository } from './room-log-repository.js';
import { RoomRepository } from './room-repository.js';
import type { Database } from './schema.js';
import { SigningKeyRepository } from './signing-key-repository.js';
import { SubscriptionSettingsRepository } from './subscription-settings-repository.js';

/** Which database engine a store runs on. */
export type StoreDialect = 'sqlite' | 'postgres';

/** Options of {@link openStore}. */
export interface StoreOptions {
  /** `sqlite:PATH`, `sqlite::memory:` or `postgres://…` */
  databaseUrl: string;
  logger: Logger;
  /**
   * Connections in the Postgres pool.
   * @default 10
   */
  postgresPoolSize?: number;
}

const PG_INT8_OID = 20;

/**
 * The database of a node (or of a cluster, on Postgres): one Kysely instance and the
 * repositories over it. Every query of Weft goes through a repository.
 */
export class Store {
  readonly rooms: RoomRepository;
  readonly roomLog: RoomLogRepository;
  readonly signingKeys: SigningKeyRepository;
  readonly notifications: NotificationRepository;
  readonly notificationSettings: NotificationSettingsRepository;
  readonly subscriptionSettings: SubscriptionSettingsRepository;
  readonly groups: GroupRepository;

  /**
   * @param sqlite The better-sqlite3 handle under `db` on SQLite (undefined on Postgres): the
   * room log runs its hot statements on it directly, prepared once, instead of through Kysely.
   */
  constructor(
    readonly db: Kysely<Database>,
    readonly dialect: StoreDialect,
    readonly sqlite?: Sqlite.Database,
  ) {
    this.rooms = new RoomRepository(db, dialect);
    this.roomLog = new RoomLogRepository(db, sqlite);
    this.signingKeys = new SigningKeyRepository(db);
    this.notifications = new NotificationRepository(db);
    this.notificationSettings = new NotificationSettingsRepository(db);
    this.subscriptionSettings = new SubscriptionSettingsRepository(db, dialect);
    this.groups = new GroupRepository(db);
  }

  /** True when a trivial query succeeds; used by /readyz. */
  async ping(): Promise<boolean> {
    try {
      await this.db.selectFrom('rooms').select('id').limit(1).execute();
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}

/** Opens the database named by the URL and applies pending migrations. */
export async function openStore(options: StoreOptions): Promise<Store> {
  const { databaseUrl, logger } = options;
  const dialect: StoreDialect = databaseUrl.startsWith('sqlite:') ? 'sqlite' : 'postgres';
  const sqlite = dialect === 'sqlite' ? openSqlite(databaseUrl) : undefined;
  const db = sqlite
    ? new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) })
    : new Kysely<Database>({
        dialect: new PostgresDialect({
          pool: openPostgresPool(databaseUrl, options.postgresPoolSize ?? 10, logger),
        }),
      });

  try {
    await migrate(db, dialect, logger);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return new Store(db, dialect, sqlite);
}

async function migrate(db: Kysely<Database>, dialect: StoreDialect, logger: Logger) {
  const migrator = new Migrator({ db, provider: migrationProvider(dialect) });
  const { error, results } = await migrator.migrateToLatest();

  for (const result of results ?? []) {
    if (result.status === 'Success') logger.info({ migration: result.migrationName }, 'migrated');
  }
  if (error) throw error;
}

function openPostgresPool(databaseUrl: string, size: number, logger: Logger) {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: size,
    // Sequence numbers are bigint; they stay far below 2^53, so numbers are exact.
    types: {
      getTypeParser: (oid: number, format?: string) =>
        oid === PG_INT8_OID
          ? (value: string) => Number(value)
          : pg.types.getTypeParser(oid, format as 'text'),
    },
  });
  // An idle connection that the server drops (restart, failover, idle timeout) is reported
  // here; unheard, the 'error' event would end the process. The pool replaces the connection.
  // Only code and message are logged: pg attaches its client, password included, to the error.
  pool.on('error', (error: Error & { code?: string }) =>
    logger.warn({ code: error.code, reason: error.message }, 'postgres connection lost'),
  );
  return pool;
}

function openSqlite(databaseUrl: string) {
  const file = databaseUrl.slice('sqlite:'.length);
  if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });

  const sqlite = new Sqlite(file);
  // WAL lets readers run during a write; NORMAL still survives a process kill (SIGKILL).
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  return sqlite;
}
