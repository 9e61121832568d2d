import type { TestProject } from 'vitest/node';

import { startTestPostgres } from './support/postgres.js';

/**
 * Runs once per `vitest run`, in the main process, before any worker starts: one throwaway
 * Postgres serves every test file (each in a database of its own, see
 * test/support/postgres.ts), and the returned teardown removes it.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const postgres = await startTestPostgres();
  project.provide('weftPostgresUrl', postgres.url);
  return () => postgres.stop();
}
