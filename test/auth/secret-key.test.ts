import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { checkSecretKey, loadOrCreateDevSecretKey } from '../../src/auth/secret-key.js';

describe('checkSecretKey', () => {
  const secret = 'sk_test_abcdefgh';

  it.each([
    [undefined, 'MISSING_SECRET_KEY'],
    ['', 'MISSING_SECRET_KEY'],
    ['Basic abc', 'MISSING_SECRET_KEY'],
    ['Bearer pk_public_key', 'WRONG_KEY_USED'],
    ['Bearer eyJhbGciOi.x.y', 'WRONG_KEY_USED'],
    ['Bearer sk_test_abcdefgX', 'INVALID_SECRET_KEY'],
    ['Bearer sk_test_abcdefgh_longer', 'INVALID_SECRET_KEY'],
  ])('refuses %s with %s', (header, code) => {
    expect(() => checkSecretKey(header, secret)).toThrow(expect.objectContaining({ code }));
  });

  it('accepts the right key, whatever the case of "Bearer"', () => {
    expect(() => checkSecretKey(`Bearer ${secret}`, secret)).not.toThrow();
    expect(() => checkSecretKey(`bearer ${secret}`, secret)).not.toThrow();
  });
});

describe('loadOrCreateDevSecretKey', () => {
  it('creates a private key file once and reads it back afterwards', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-secret-'));

    const first = loadOrCreateDevSecretKey(dir);
    const second = loadOrCreateDevSecretKey(dir);

    expect(first.key).toMatch(/^sk_dev_[A-Za-z0-9_-]{20,}$/);
    expect(second.key).toBe(first.key);
    expect(fs.statSync(first.file).mode & 0o777).toBe(0o600);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
