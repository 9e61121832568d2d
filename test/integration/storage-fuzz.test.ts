import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';

import { startNode, type TestNode } from '../support/start-node.js';
import { actionSequences, runStorageSequence } from '../support/storage-fuzz.js';

/**
 * Property: real `@liveblocks/client` instances editing one room's Storage through a real node,
 * in random concurrent sequences of LiveObject / LiveMap / LiveList operations (nested live
 * structures, batches, undo and redo) with random disconnects and cut sockets, always end
 * showing the server's Storage (`GET …/storage?format=json`), which a client joining afterwards
 * loads too (test/support/storage-fuzz.ts).
 *
 * The action sequences are seeded; the network's timing is not, so a run is repeatable in what
 * it does, not in how messages interleave. `npm run fuzz:storage` runs longer; the environment
 * sets the size: STORAGE_FUZZ_RUNS, STORAGE_FUZZ_ACTIONS (most actions per run),
 * STORAGE_FUZZ_SEED; STORAGE_FUZZ_DUMP names a folder for the frames of a failing run.
 */

const RUNS = Number(process.env.STORAGE_FUZZ_RUNS ?? 25);
const MAX_ACTIONS = Number(process.env.STORAGE_FUZZ_ACTIONS ?? 60);
const SEED = Number(process.env.STORAGE_FUZZ_SEED ?? 20_240_613);

describe('Storage under random concurrent edits of real clients', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode({ LOG_LEVEL: 'info' });
  });

  it(
    `converges in every run (${RUNS} runs of up to ${MAX_ACTIONS} actions, seed ${SEED})`,
    async () => {
      let runs = 0;
      let actionsDone = 0;
      await fc.assert(
        fc.asyncProperty(actionSequences(MAX_ACTIONS), async (actions) => {
          runs += 1;
          actionsDone += actions.length;
          await runStorageSequence([node], actions);
        }),
        // Shrinking would rerun real clients over real sockets many times; the failing sequence
        // is printed whole instead.
        { seed: SEED, numRuns: RUNS, endOnFailure: true },
      );
      expect(runs).toBe(RUNS);
      expect(actionsDone).toBeGreaterThan(0);
    },
    60_000 + RUNS * 20_000,
  );
});
