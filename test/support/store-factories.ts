import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll } from 'vitest';

import { createLogger } from '../../src/log.js';
import { openStore, type Store, type StoreDialect } from '../../src/store/store.js';
import { createTestDatabase, dropTestDatabase } from './postgres.js';

/** Opens stores of one dialect for a test file; everything it makes is removed after the file. */
export interface StoreFactory {
  readonly name: StoreDialect;
  /** The URL of a fresh, empty database: a new SQLite file, or a new Postgres database. */
  createDatabaseUrl(): Promise<string>;
  /** Opens a store on `databaseUrl`, or on a fresh database when absent. */
  open(databaseUrl?: string): Promise<Store>;
}

/**
 * Both dialects, for `describe.each(storeFactories)('… ($name)', (factory) => …)`. What the
 * factories make during a test file (stores, SQLite files, Postgres databases) is closed and
 * removed after that file.
 */
export const storeFactories: readonly StoreFactory[] = [
  factory('sqlite', createSqliteDatabase),
  factory('postgres', createPostgresDatabase),
];

/** Undo steps of this file's stores and databases, run newest first. */
const cleanups: (() => unknown)[] = [];

// Registered while the importing test file is collected: vitest ignores hooks that a running
// test or hook registers, so `open()` cannot register its own.
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function factory(name: StoreDialect, createDatabase: () => Promise<string>): StoreFactory {
  return {
    name,
    createDatabaseUrl: createDatabase,
    async open(databaseUrl) {
      const store = await openStore({
        databaseUrl: databaseUrl ?? (await createDatabase()),
        logger: createLogger({ level: 'silent' }),
      });
      // Closing twice is harmless, so tests may close a store themselves.
      cleanups.push(() => store.close());
      return store;
    },
  };
}

async function createSqliteDatabase(): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-store-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return `sqlite:${path.join(dir, 'weft.db')}`;
}

async function createPostgresDatabase(): Promise<string> {
  const url = await createTestDatabase();
  cleanups.push(() => dropTestDatabase(url));
  return url;
}
