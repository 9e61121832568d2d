import { objectToQuery } from '@liveblocks/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { parseRoomQuery, roomMatches } from '../../src/http/room-query.js';
import type { RoomRecord } from '../../src/store/room-repository.js';

function room(id: string, metadata: RoomRecord['metadata']): RoomRecord {
  return {
    id,
    organizationId: 'default',
    createdAt: '2030-01-01T00:00:00.000Z',
    lastConnectionAt: null,
    defaultAccesses: [],
    usersAccesses: {},
    groupsAccesses: {},
    metadata,
  };
}

describe('parseRoomQuery', () => {
  it('reads the documented examples', () => {
    expect(parseRoomQuery(`roomId^'liveblocks:' AND metadata['roomType']:'whiteboard'`)).toEqual([
      { field: 'roomId', operator: 'startsWith', value: 'liveblocks:' },
      { field: 'metadata', key: 'roomType', operator: 'equals', value: 'whiteboard' },
    ]);
    expect(parseRoomQuery('metadata["status"]:"open" AND roomId^"liveblocks:"')).toHaveLength(2);
  });

  it('reads an empty or blank query as no condition', () => {
    expect(parseRoomQuery('')).toEqual([]);
    expect(parseRoomQuery('   ')).toEqual([]);
  });

  it('accepts spaces around operators and brackets, and a lower-case and', () => {
    expect(parseRoomQuery(` metadata [ "k" ] : "v"  and  roomId ^ "p" `)).toEqual([
      { field: 'metadata', key: 'k', operator: 'equals', value: 'v' },
      { field: 'roomId', operator: 'startsWith', value: 'p' },
    ]);
  });

  it('decodes JSON escapes in both quote styles', () => {
    expect(parseRoomQuery(String.raw`roomId:"a\"b\\c\u00e9\n"`)[0]!.value).toBe('a"b\\cé\n');
    expect(parseRoomQuery(String.raw`roomId:'it\'s "x"'`)[0]!.value).toBe(`it's "x"`);
  });

  it('reads every query objectToQuery writes for the room criteria of the SDK', () => {
    const text = fc.string({ maxLength: 30 });
    fc.assert(
      fc.property(
        fc.option(text, { nil: undefined }),
        fc.dictionary(
          text.filter((key) => key.trim() !== ''),
          text,
          { maxKeys: 4 },
        ),
        (prefix, metadata) => {
          const query = objectToQuery({
            ...(prefix !== undefined ? { roomId: { startsWith: prefix } } : {}),
            metadata,
          });

          const conditions = parseRoomQuery(query);

          expect(conditions).toEqual([
            ...(prefix !== undefined
              ? [{ field: 'roomId', operator: 'startsWith', value: prefix }]
              : []),
            ...Object.entries(metadata).map(([key, value]) => ({
              field: 'metadata',
              key,
              operator: 'equals',
              value,
            })),
          ]);
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('throws UNPROCESSABLE_ENTITY with the 1-based position of the problem', () => {
    expect(() => parseRoomQuery('roomId^"a" XOR roomId^"b"')).toThrow(
      expect.objectContaining({
        code: 'UNPROCESSABLE_ENTITY',
        message:
          'Invalid query at character 12: unknown field "XOR": rooms filter on roomId and metadata["key"].',
      }),
    );
    expect(() => parseRoomQuery('AND roomId^"a"')).toThrow(
      /character 1: AND must stand between two conditions/,
    );
    expect(() => parseRoomQuery('roomId^"a" AND AND roomId^"b"')).toThrow(
      /character 16: AND must stand/,
    );
    expect(() => parseRoomQuery('roomId^"\\u12"')).toThrow(/invalid \\u escape/);
    expect(() => parseRoomQuery('roomId^true')).toThrow(/true is not a quoted string/);
    expect(() => parseRoomQuery('metadata["k"]:null')).toThrow(/null is not a quoted string/);
  });
});

describe('roomMatches', () => {
  const subject = room('team:doc-1', { kind: 'doc', tags: ['a', 'b'], owner: 'florent' });

  it('matches every condition, and only string metadata', () => {
    const match = (query: string) => roomMatches(subject, parseRoomQuery(query));

    expect(match('')).toBe(true);
    expect(match('roomId^"team:"')).toBe(true);
    expect(match('roomId:"team:doc-1"')).toBe(true);
    expect(match('roomId:"team:doc"')).toBe(false);
    expect(match('metadata["kind"]:"doc" metadata["owner"]^"flo"')).toBe(true);
    expect(match('metadata["kind"]:"doc" metadata["owner"]^"x"')).toBe(false);
    expect(match('metadata["tags"]:"a"')).toBe(false);
    expect(match('metadata["missing"]:""')).toBe(false);
  });
});
