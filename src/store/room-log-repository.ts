import type Sqlite from 'better-sqlite3';
import type { Kysely } from 'kysely';

import type { Database } from './schema.js';

/** One entry of a room's log, as stored. */
export interface StoredLogEntry {
  seq: number;
  entry: Buffer;
}

/** A room's latest snapshot, covering the log up to and including `seq`. */
export interface StoredSnapshot {
  seq: number;
  snapshot: Buffer;
}

/** Entries to append to one room, for {@link RoomLogRepository.appendNow}. */
export interface RoomAppend {
  roomId: string;
  entries: readonly Buffer[];
}

/**
 * The durable, ordered log of each room and its snapshots. Entries are opaque bytes: the bus
 * encodes them. A single node appends here directly (LocalBus); a cluster keeps the hot log in
 * Redis and only writes snapshots here.
 *
 * On SQLite, appends and reads of the log run synchronously on the better-sqlite3 handle with
 * statements prepared once: they are on every message's path, where building and preparing a
 * query each time cost more than running it.
 */
export class RoomLogRepository {
  private readonly statements: SqliteLogStatements | undefined;

  /** @param sqlite The handle under `db` when it is SQLite. */
  constructor(
    private readonly db: Kysely<Database>,
    sqlite?: Sqlite.Database,
  ) {
    this.statements = sqlite && new SqliteLogStatements(sqlite);
  }

  /**
   * Appends entries after the room's last one, in one transaction, and returns their sequence
   * numbers. Callers serialise appends per room (LocalBus does), so the max+1 read is safe.
   */
  async append(roomId: string, entries: readonly Buffer[]): Promise<number[]> {
    if (entries.length === 0) return [];
    const now = this.appendNow([{ roomId, entries }]);
    if (now) return now[0]!;

    return this.db.transaction().execute(async (trx) => {
      const last = await trx
        .selectFrom('room_log')
        .select((eb) => eb.fn.max('seq').as('seq'))
        .where('room_id', '=', roomId)
        .executeTakeFirst();
      const snapshot = await trx
        .selectFrom('room_snapshots')
        .select('seq')
        .where('room_id', '=', roomId)
        .executeTakeFirst();
      const base = Math.max(Number(last?.seq ?? 0), Number(snapshot?.seq ?? 0));

      const seqs = entries.map((_, i) => base + i + 1);
      await trx
        .insertInto('room_log')
        .values(entries.map((entry, i) => ({ room_id: roomId, seq: seqs[i]!, entry })))
        .execute();
      return seqs;
    });
  }

  /**
   * Appends to several rooms in one transaction, synchronously, and returns each room's
   * sequence numbers (as {@link append} would). Returns undefined, having written nothing, when
   * that cannot be done synchronously: on Postgres, or while a Kysely transaction holds the
   * SQLite connection (a write now would join that transaction and share its fate).
   */
  appendNow(appends: readonly RoomAppend[]): number[][] | undefined {
    const statements = this.statements;
    if (!statements || statements.busy) return undefined;
    return statements.append(appends);
  }

  /** Entries with seq > `afterSeq`, in order. */
  async readAfter(roomId: string, afterSeq: number): Promise<StoredLogEntry[]> {
    const statements = this.statements;
    if (statements && !statements.busy) return statements.readAfter(roomId, afterSeq);

    const rows = await this.db
      .selectFrom('room_log')
      .select(['seq', 'entry'])
      .where('room_id', '=', roomId)
      .where('seq', '>', afterSeq)
      .orderBy('seq')
      .execute();
    return rows.map((row) => ({ seq: Number(row.seq), entry: row.entry }));
  }

  async getSnapshot(roomId: string): Promise<StoredSnapshot | undefined> {
    const row = await this.db
      .selectFrom('room_snapshots')
      .select(['seq', 'snapshot'])
      .where('room_id', '=', roomId)
      .executeTakeFirst();
    return row && { seq: Number(row.seq), snapshot: row.snapshot };
  }

  /**
   * Stores a snapshot covering the log up to `seq` and drops the entries it covers, in one
   * transaction. An older snapshot never replaces a newer one.
   */
  async putSnapshot(roomId: string, seq: number, snapshot: Buffer, at: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      // The seq test is part of the upsert: checked by a read before it, two writers on
      // Postgres could both pass and the older snapshot could land last.
      await trx
        .insertInto('room_snapshots')
        .values({ room_id: roomId, seq, snapshot, updated_at: at })
        .onConflict((oc) =>
          oc
            .column('room_id')
            .doUpdateSet({ seq, snapshot, updated_at: at })
            .where('room_snapshots.seq', '<=', seq),
        )
        .execute();
      // Entries up to `seq` are covered whichever snapshot is stored now.
      await trx
        .deleteFrom('room_log')
        .where('room_id', '=', roomId)
        .where('seq', '<=', seq)
        .execute();
    });
  }

  /** Forgets a room's log and snapshot (storage and document deleted). */
  async clear(roomId: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('room_log').where('room_id', '=', roomId).execute();
      await trx.deleteFrom('room_snapshots').where('room_id', '=', roomId).execute();
    });
  }
}

/** The room log's hot statements on a better-sqlite3 handle, prepared once. */
class SqliteLogStatements {
  private readonly lastSeq: Sqlite.Statement<[string, string], number | null>;
  private readonly insert: Sqlite.Statement<[string, number, Buffer]>;
  private readonly select: Sqlite.Statement<[string, number], { seq: number; entry: Buffer }>;
  readonly append: (appends: readonly RoomAppend[]) => number[][];

  constructor(private readonly sqlite: Sqlite.Database) {
    // Seqs continue after the log and after the snapshot, which may have trimmed the log.
    this.lastSeq = sqlite
      .prepare<[string, string], number | null>(
        `SELECT max(coalesce((SELECT max(seq) FROM room_log WHERE room_id = ?), 0),
                    coalesce((SELECT seq FROM room_snapshots WHERE room_id = ?), 0))`,
      )
      .pluck();
    this.insert = sqlite.prepare('INSERT INTO room_log (room_id, seq, entry) VALUES (?, ?, ?)');
    this.select = sqlite.prepare(
      'SELECT seq, entry FROM room_log WHERE room_id = ? AND seq > ? ORDER BY seq',
    );
    this.append = sqlite.transaction((appends: readonly RoomAppend[]) =>
      appends.map(({ roomId, entries }) => {
        const base = Number(this.lastSeq.get(roomId, roomId) ?? 0);
        return entries.map((entry, i) => {
          this.insert.run(roomId, base + i + 1, entry);
          return base + i + 1;
        });
      }),
    );
  }

  /** A Kysely transaction is open on the connection. */
  get busy(): boolean {
    return this.sqlite.inTransaction;
  }

  readAfter(roomId: string, afterSeq: number): StoredLogEntry[] {
    return this.select
      .all(roomId, afterSeq)
      .map((row) => ({ seq: Number(row.seq), entry: row.entry }));
  }
}
