import type { Kysely } from 'kysely';

import type { Database } from './schema.js';

/** A stored token-signing key pair (JWK JSON strings). */
export interface StoredSigningKey {
  kid: string;
  privateJwk: string;
  publicJwk: string;
  createdAt: string;
}

/** Token-signing keys shared by every node through the database. */
export class SigningKeyRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async list(): Promise<StoredSigningKey[]> {
    const rows = await this.db
      .selectFrom('signing_keys')
      .selectAll()
      .orderBy('created_at')
      .execute();
    return rows.map((row) => ({
      kid: row.kid,
      privateJwk: row.private_jwk,
      publicJwk: row.public_jwk,
      createdAt: row.created_at,
    }));
  }

  /**
   * Inserts the key unless one with its kid exists, then returns the stored one. Nodes starting
   * together all propose a key under the same kid; the first insert wins and all read it back.
   */
  async insertIfAbsent(key: StoredSigningKey): Promise<StoredSigningKey> {
    await this.db
      .insertInto('signing_keys')
      .values({
        kid: key.kid,
        private_jwk: key.privateJwk,
        public_jwk: key.publicJwk,
        created_at: key.createdAt,
      })
      .onConflict((oc) => oc.column('kid').doNothing())
      .execute();

    const row = await this.db
      .selectFrom('signing_keys')
      .selectAll()
      .where('kid', '=', key.kid)
      .executeTakeFirstOrThrow();
    return {
      kid: row.kid,
      privateJwk: row.private_jwk,
      publicJwk: row.public_jwk,
      createdAt: row.created_at,
    };
  }
}
