import { describe, expect, it } from 'vitest';

import type { StoredSigningKey } from '../../src/store/signing-key-repository.js';
import { storeFactories } from '../support/store-factories.js';

function key(kid: string, owner: string, createdAt = '2025-01-01T00:00:00.000Z'): StoredSigningKey {
  return {
    kid,
    privateJwk: JSON.stringify({ kty: 'EC', d: `private-of-${owner}` }),
    publicJwk: JSON.stringify({ kty: 'EC', x: `public-of-${owner}` }),
    createdAt,
  };
}

describe.each(storeFactories)('SigningKeyRepository ($name)', (factory) => {
  it('starts empty, stores a new key and lists it', async () => {
    const store = await factory.open();

    expect(await store.signingKeys.list()).toEqual([]);
    expect(await store.signingKeys.insertIfAbsent(key('k1', 'node-a'))).toEqual(
      key('k1', 'node-a'),
    );
    expect(await store.signingKeys.list()).toEqual([key('k1', 'node-a')]);
  });

  it('keeps the first key under a kid and hands it to a later proposer', async () => {
    const store = await factory.open();
    await store.signingKeys.insertIfAbsent(key('k1', 'node-a'));

    const read = await store.signingKeys.insertIfAbsent(key('k1', 'node-b'));

    expect(read).toEqual(key('k1', 'node-a'));
    expect(await store.signingKeys.list()).toHaveLength(1);
  });

  it('two nodes proposing a key at once both end with the same stored key', async () => {
    const url = await factory.createDatabaseUrl();
    const nodeA = await factory.open(url);
    const nodeB = await factory.open(url);

    const [readByA, readByB] = await Promise.all([
      nodeA.signingKeys.insertIfAbsent(key('shared', 'node-a')),
      nodeB.signingKeys.insertIfAbsent(key('shared', 'node-b')),
    ]);

    expect(readByA).toEqual(readByB);
    expect([key('shared', 'node-a'), key('shared', 'node-b')]).toContainEqual(readByA);
    expect(await nodeA.signingKeys.list()).toEqual([readByA]);
  });

  it('many proposals at once leave exactly one key that every proposer reads', async () => {
    const store = await factory.open();
    const owners = Array.from({ length: 8 }, (_, i) => `node-${i}`);

    const reads = await Promise.all(
      owners.map((owner) => store.signingKeys.insertIfAbsent(key('busy', owner))),
    );

    expect(new Set(reads.map((read) => read.privateJwk)).size).toBe(1);
    expect(await store.signingKeys.list()).toEqual([reads[0]]);
  });

  it('lists keys oldest first', async () => {
    const store = await factory.open();
    await store.signingKeys.insertIfAbsent(key('newer', 'a', '2025-06-01T00:00:00.000Z'));
    await store.signingKeys.insertIfAbsent(key('older', 'b', '2025-01-01T00:00:00.000Z'));

    expect((await store.signingKeys.list()).map((k) => k.kid)).toEqual(['older', 'newer']);
  });
});
