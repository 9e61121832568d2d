import fs from 'node:fs';

import { describe, expect, it } from 'vitest';

import { DEFAULT_LIMITS, LIMIT_ENV } from '../src/config.js';
import { ERRORS, WeftError } from '../src/errors.js';

const readme = fs.readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** Rows of the README's error table: code → [HTTP status, close code]. */
function readmeErrorRows(): Map<string, [number, number]> {
  const rows = new Map<string, [number, number]>();
  for (const match of readme.matchAll(/^\|\s*`([A-Z_]+)`\s*\|\s*(\d{3})\s*\|\s*(\d{4})\s*\|/gm)) {
    rows.set(match[1]!, [Number(match[2]), Number(match[3])]);
  }
  return rows;
}

describe('error catalogue', () => {
  it('lists every code in the README with its HTTP status and close code', () => {
    const rows = readmeErrorRows();
    const catalogue = new Map(
      Object.entries(ERRORS).map(([code, spec]) => [code, [spec.status, spec.closeCode]]),
    );

    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(catalogue));
  });

  it('uses close codes the Liveblocks client understands', () => {
    for (const [code, spec] of Object.entries(ERRORS)) {
      const valid =
        (spec.closeCode >= 4000 && spec.closeCode <= 4299) ||
        [1008, 1009, 1011, 1012, 1013].includes(spec.closeCode);
      expect(valid, code).toBe(true);
    }
  });

  it('serialises to the Liveblocks error shape', () => {
    const error = new WeftError('ROOM_NOT_FOUND', 'Room "x" does not exist.');

    expect(JSON.parse(JSON.stringify(error))).toEqual({
      error: 'ROOM_NOT_FOUND',
      message: 'Room "x" does not exist.',
    });
    expect(error.status).toBe(404);
  });
});

describe('README configuration table', () => {
  it('documents every limit with its default', () => {
    for (const [name, env] of Object.entries(LIMIT_ENV)) {
      const value = DEFAULT_LIMITS[name as keyof typeof DEFAULT_LIMITS];
      expect(readme, env).toMatch(new RegExp(`\\|\\s*\`${env}\`\\s*\\|\\s*\`${value}\`\\s*\\|`));
    }
  });
});
