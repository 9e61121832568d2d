import { Writable } from 'node:stream';

import pg from 'pg';
import { describe, expect, it, vi } from 'vitest';

import { createLogger } from '../../src/log.js';
import { openStore } from '../../src/store/store.js';
import { storeFactories } from '../support/store-factories.js';

/** A logger whose records the test reads back. */
function recordingLogger() {
  const records: { msg: string; migration?: string; [field: string]: unknown }[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') records.push(JSON.parse(line) as { msg: string });
      }
      done();
    },
  });
  return { logger: createLogger({ level: 'info', destination }), records };
}

const ROOM = {
  id: 'kept',
  organizationId: 'acme',
  createdAt: '2025-01-01T00:00:00.000Z',
  lastConnectionAt: null,
  defaultAccesses: [],
  usersAccesses: {},
  groupsAccesses: {},
  metadata: {},
};

describe.each(storeFactories)('openStore ($name)', (factory) => {
  it('opens the dialect its URL names', async () => {
    const store = await factory.open();

    expect(store.dialect).toBe(factory.name);
    expect(await store.ping()).toBe(true);
  });

  it('applies each migration once: reopening keeps the data and migrates nothing', async () => {
    const databaseUrl = await factory.createDatabaseUrl();
    const first = recordingLogger();
    const second = recordingLogger();

    const store = await openStore({ databaseUrl, logger: first.logger });
    await store.rooms.create(ROOM);
    await store.close();
    const reopened = await openStore({ databaseUrl, logger: second.logger });

    try {
      const applied = first.records.filter((r) => r.msg === 'migrated');
      expect(applied.map((r) => r.migration)).toContain('0001_initial');
      expect(second.records.filter((r) => r.msg === 'migrated')).toEqual([]);
      expect(await reopened.rooms.get('kept')).toEqual(ROOM);
      const recorded = await reopened.db
        .selectFrom('kysely_migration' as never)
        .select('name' as never)
        .execute();
      expect(recorded).toHaveLength(applied.length);
    } finally {
      await reopened.close();
    }
  });

  it('ping answers false once the store is closed, and closing twice is harmless', async () => {
    const store = await factory.open();

    await store.close();

    expect(await store.ping()).toBe(false);
    await store.close();
  });
});

describe('openStore (postgres only)', () => {
  const postgres = storeFactories.find((f) => f.name === 'postgres')!;

  it('lets several nodes open and migrate one fresh database at the same time', async () => {
    const databaseUrl = await postgres.createDatabaseUrl();

    const nodes = await Promise.all([1, 2, 3].map(() => postgres.open(databaseUrl)));
    await nodes[0]!.rooms.create(ROOM);

    for (const node of nodes) expect(await node.rooms.get('kept')).toEqual(ROOM);
  });

  it('survives the server ending its idle connections, with a warning that holds no secret', async () => {
    const databaseUrl = await postgres.createDatabaseUrl();
    const { logger, records } = recordingLogger();
    const store = await openStore({ databaseUrl, logger });

    try {
      await Promise.all([1, 2, 3].map(() => store.ping()));
      await terminateConnections(databaseUrl);

      await vi.waitFor(() =>
        expect(records.map((r) => r.msg)).toContain('postgres connection lost'),
      );
      // Every pooled connection was ended; the pool drops each as it notices, so the first
      // query after the warning may still meet one that is about to be dropped.
      await vi.waitFor(async () => expect(await store.ping()).toBe(true));
      const warning = records.find((r) => r.msg === 'postgres connection lost')!;
      expect(warning).toMatchObject({ level: 40, code: '57P01' });
      expect(JSON.stringify(warning)).not.toMatch(/client|password/i);
    } finally {
      await store.close();
    }
  });
});

/** What an administrator or a failover does: end every session of the database. */
async function terminateConnections(databaseUrl: string) {
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  try {
    await admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
    );
  } finally {
    await admin.end();
  }
}
