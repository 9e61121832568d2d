import { asPos, makePosition } from '@liveblocks/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FIRST_POSITION,
  isPosition,
  positionAfter,
  positionBetween,
  toPosition,
} from '../../src/storage-tree/position.js';

const positionArbitrary = fc
  .string({ unit: fc.integer({ min: 32, max: 126 }).map((code) => String.fromCharCode(code)) })
  .map((text) => text.replace(/ +$/, ''))
  .filter((text) => text.length > 0);

describe('positions', () => {
  it('accepts printable ASCII without a trailing space and nothing else', () => {
    expect(isPosition('!')).toBe(true);
    expect(isPosition('a b')).toBe(true);
    expect(isPosition('')).toBe(false);
    expect(isPosition('a ')).toBe(false);
    expect(isPosition('\u00e9')).toBe(false);
    expect(isPosition('a\n')).toBe(false);
  });

  it('normalizes malformed keys the way clients read them', () => {
    expect(toPosition('')).toBe(FIRST_POSITION);
    expect(toPosition('   ')).toBe(FIRST_POSITION);
    expect(toPosition('a  ')).toBe('a');
    expect(toPosition('\u00ff')).toBe('~');
    expect(toPosition('a\tb')).toBe('a b');
    expect(toPosition('#')).toBe('#');
  });

  it('finds the next position exactly as the client does, so pushes agree', () => {
    fc.assert(
      fc.property(positionArbitrary, (position) => {
        const next = positionAfter(position);
        expect(next > position).toBe(true);
        expect(isPosition(next)).toBe(true);
        expect(next).toBe(makePosition(asPos(position)));
      }),
      { seed: 4, numRuns: 2000 },
    );
  });

  it('widens past a run of top digits', () => {
    expect(positionAfter('~')).toBe('~!');
    expect(positionAfter('~~')).toBe('~~  !');
    expect(positionAfter('!')).toBe('!!');
  });

  it('finds a well-formed position strictly between two others', () => {
    fc.assert(
      fc.property(positionArbitrary, positionArbitrary, (a, b) => {
        fc.pre(a !== b);
        const [low, high] = a < b ? [a, b] : [b, a];
        const middle = positionBetween(low, high);
        expect(low < middle && middle < high).toBe(true);
        expect(isPosition(middle)).toBe(true);
      }),
      { seed: 5, numRuns: 5000 },
    );
  });

  it('splits wide gaps in the middle and adjacent digits one level down', () => {
    expect(positionBetween('!', '#')).toBe('"');
    expect(positionBetween('!', '"')).toBe('!O');
    expect(positionBetween('!~', '"')).toBe('!~O');
    expect(positionBetween('!', '!!')).toBe('! O');
  });
});
