import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { WeftError } from '../errors.js';

/** File under DATA_DIR holding the development secret key. */
export const DEV_SECRET_FILE = 'secret-key';

/**
 * Checks an `Authorization` header against the project secret key. Throws the Liveblocks error
 * for a missing header (401), a non-secret credential (401) or a wrong key (403).
 */
export function checkSecretKey(header: string | undefined, secretKey: string): void {
  if (header === undefined || header.trim() === '') throw new WeftError('MISSING_SECRET_KEY');

  const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
  if (!match) throw new WeftError('MISSING_SECRET_KEY');

  const presented = match[1]!;
  if (!presented.startsWith('sk_')) throw new WeftError('WRONG_KEY_USED');
  // Hash both sides so that the comparison takes the same time whatever the lengths.
  if (!timingSafeEqual(digest(presented), digest(secretKey))) {
    throw new WeftError('INVALID_SECRET_KEY');
  }
}

/**
 * Returns the development secret key stored in `dataDir`, creating it (mode 600) on first use.
 * Only main.ts calls this, and only when SECRET_KEY is unset on a single SQLite node.
 */
export function loadOrCreateDevSecretKey(dataDir: string): { key: string; file: string } {
  const file = path.resolve(dataDir, DEV_SECRET_FILE);
  fs.mkdirSync(path.dirname(file), { recursive: true });

  try {
    const existing = fs.readFileSync(file, 'utf8').trim();
    if (existing.startsWith('sk_')) return { key: existing, file };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }

  const key = `sk_dev_${randomBytes(24).toString('base64url')}`;
  fs.writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return { key, file };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
