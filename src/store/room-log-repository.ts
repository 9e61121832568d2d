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

/**
 * The durable, ordered log of each room and its snapshots. Entries are opaque bytes: the bus
 * encodes them. A single node appends here directly (LocalBus); a cluster keeps the hot log in
 * Redis and only writes snapshots here.
 */
export class RoomLogRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Appends entries after the room's last one, in one transaction, and returns their sequence
   * numbers. Callers serialise appends per room (LocalBus does), so the max+1 read is safe.
   */
  async append(roomId: string, entries: readonly Buffer[]): Promise<number[]> {
    if (entries.length === 0) return [];

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

  /** Entries with seq > `afterSeq`, in order. */
  async readAfter(roomId: string, afterSeq: number): Promise<StoredLogEntry[]> {
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
