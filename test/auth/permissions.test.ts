import {
  mergeRoomPermissionScopes,
  normalizeRoomPermissions,
  Permission,
  permissionMatrixFromScopes,
} from '@liveblocks/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  canEnter,
  canReadStorage,
  canWriteStorage,
  isValidRoomPattern,
  isValidScope,
  matrixToScopes,
  patternMatches,
  resolveAccessTokenPermissions,
  resolveRoomAccesses,
  validateScopes,
  VALID_SCOPES,
  type PermissionMatrix,
} from '../../src/auth/permissions.js';

const ALL_SCOPES = [...VALID_SCOPES];
/** Random scope lists, from the valid scopes only. */
const scopeList = fc.uniqueArray(fc.constantFrom(...ALL_SCOPES), { maxLength: 5 });

function matrix(overrides: Partial<PermissionMatrix>): PermissionMatrix {
  const room = overrides.room ?? 'none';
  const comments = overrides.comments ?? room;
  return {
    room,
    storage: room,
    comments,
    'comments:public': comments,
    'comments:private': comments,
    feeds: room,
    ...overrides,
  };
}

/** The client's matrix without its `personal` entry, which rooms never set. */
function clientMatrix(scopes: string[]): Omit<PermissionMatrix, never> {
  const { personal: _personal, ...rest } = permissionMatrixFromScopes(
    normalizeRoomPermissions(scopes),
  );
  return rest;
}

describe('VALID_SCOPES', () => {
  it('holds exactly the permissions @liveblocks/core 3.24.2 knows', () => {
    expect(new Set(ALL_SCOPES)).toEqual(new Set(Object.values(Permission)));
  });

  it('recognises scopes and nothing else', () => {
    expect(isValidScope('*:write')).toBe(true);
    expect(isValidScope('comments:private:none')).toBe(true);
    expect(isValidScope('room:admin')).toBe(false);
    expect(isValidScope(7)).toBe(false);
  });
});

describe('room patterns', () => {
  it.each(['a', '*', 'room-1', 'Vu78Rt:product:*', 'p'.repeat(128), `${'p'.repeat(128)}*`])(
    'accepts %s',
    (pattern) => {
      expect(isValidRoomPattern(pattern)).toBe(true);
    },
  );

  it.each(['', '**', 'a*b', '*abc', 'a**', 'p'.repeat(129), `${'p'.repeat(129)}*`])(
    'refuses %s',
    (pattern) => {
      expect(isValidRoomPattern(pattern)).toBe(false);
    },
  );

  it('matches exact ids and prefixes', () => {
    expect(patternMatches('room-1', 'room-1')).toBe(true);
    expect(patternMatches('room-1', 'room-10')).toBe(false);
    expect(patternMatches('room-*', 'room-10')).toBe(true);
    expect(patternMatches('room-*', 'room-')).toBe(true);
    expect(patternMatches('room-*', 'roo')).toBe(false);
    expect(patternMatches('*', 'anything')).toBe(true);
  });
});

describe('resolveRoomAccesses', () => {
  it('lets a user entry override the defaults, even towards less access', () => {
    const privateRoom = resolveRoomAccesses({
      defaultAccesses: [],
      groupsAccesses: [],
      userAccesses: ['room:write'],
    });
    const readOnlyUser = resolveRoomAccesses({
      defaultAccesses: ['room:write'],
      groupsAccesses: [],
      userAccesses: ['room:read', 'room:presence:write'],
    });

    expect(privateRoom).toEqual(matrix({ room: 'write' }));
    expect(readOnlyUser).toEqual(matrix({ room: 'read' }));
  });

  it('lets groups override the defaults and takes the strongest group', () => {
    const groups = resolveRoomAccesses({
      defaultAccesses: ['*:write'],
      groupsAccesses: [['*:read'], ['*:read', 'comments:write']],
      userAccesses: [],
    });
    const strongest = resolveRoomAccesses({
      defaultAccesses: [],
      groupsAccesses: [['*:read'], ['*:write']],
      userAccesses: [],
    });

    expect(groups).toEqual(matrix({ room: 'read', comments: 'write' }));
    expect(strongest).toEqual(matrix({ room: 'write' }));
  });

  it('lets the user override the groups, feature by feature', () => {
    const resolved = resolveRoomAccesses({
      defaultAccesses: ['*:read'],
      groupsAccesses: [['*:write', 'storage:read']],
      userAccesses: ['storage:write', 'comments:none'],
    });

    expect(resolved).toEqual(matrix({ room: 'write', storage: 'write', comments: 'none' }));
  });

  it('gives no access without any base scope', () => {
    const resolved = resolveRoomAccesses({
      defaultAccesses: [],
      groupsAccesses: [['storage:write']],
      userAccesses: [],
    });

    expect(resolved).toEqual(matrix({ room: 'none' }));
    expect(canEnter(resolved)).toBe(false);
  });

  it('agrees with @liveblocks/core on every combination of scopes', () => {
    fc.assert(
      fc.property(
        scopeList,
        fc.array(scopeList, { maxLength: 3 }),
        scopeList,
        (defaultAccesses, groupsAccesses, userAccesses) => {
          const ours = matrixToScopes(
            resolveRoomAccesses({ defaultAccesses, groupsAccesses, userAccesses }),
          );
          const theirs = mergeRoomPermissionScopes({
            defaultAccesses: normalizeRoomPermissions(defaultAccesses),
            groupsAccesses: groupsAccesses.map((scopes) => normalizeRoomPermissions(scopes)),
            userAccesses: normalizeRoomPermissions(userAccesses),
          });
          expect(ours).toEqual(theirs);
        },
      ),
      { numRuns: 2_000 },
    );
  });
});

describe('resolveAccessTokenPermissions', () => {
  it('is undefined when no pattern matches', () => {
    expect(resolveAccessTokenPermissions({ 'other-*': ['*:write'] }, 'room')).toBeUndefined();
  });

  it('takes the strongest base access over every matching pattern', () => {
    const resolved = resolveAccessTokenPermissions(
      { 'org:*': ['*:read'], 'org:room': ['*:write'], other: ['*:write'] },
      'org:room',
    );

    expect(resolved?.room).toBe('write');
  });

  it('takes a feature override from the most specific matching pattern', () => {
    const resolved = resolveAccessTokenPermissions(
      { 'a*': ['*:write', 'storage:none'], 'ab*': ['*:read', 'storage:write', 'comments:none'] },
      'abc',
    );

    expect(resolved).toEqual(matrix({ room: 'write', storage: 'write', comments: 'none' }));
  });

  it('lets a more specific pattern lower a feature that a broader one raised', () => {
    const resolved = resolveAccessTokenPermissions(
      { '*': ['*:write', 'storage:write'], 'doc-*': ['*:read', 'storage:read'] },
      'doc-1',
    );

    expect(resolved).toEqual(matrix({ room: 'write', storage: 'read' }));
    expect(canWriteStorage(resolved!)).toBe(false);
    expect(canReadStorage(resolved!)).toBe(true);
  });

  it('takes the strongest feature level between equally specific patterns', () => {
    const resolved = resolveAccessTokenPermissions(
      { 'doc-1': ['*:read', 'storage:read'], 'doc-*': ['*:read', 'storage:write'] },
      'doc-1',
    );
    const tie = resolveAccessTokenPermissions(
      { 'abc*': ['*:read', 'feeds:none'], abcd: ['*:read', 'feeds:write'] },
      'abcd',
    );

    // "doc-1" (5 characters) is more specific than "doc-" (4).
    expect(resolved?.storage).toBe('read');
    expect(tie?.feeds).toBe('write');
  });
});

describe('matrixToScopes', () => {
  it('describes every resolvable matrix with scopes the client accepts and reads back', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom('a*', 'ab*', 'abc', '*'), scopeList, { maxKeys: 4 }),
        (perms) => {
          const resolved = resolveAccessTokenPermissions(perms, 'abc');
          if (!resolved || !canEnter(resolved)) return;

          const scopes = matrixToScopes(resolved);
          expect(() => normalizeRoomPermissions(scopes)).not.toThrow();
          expect(clientMatrix(scopes)).toEqual(resolved);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('writes the base scope first and only the features that differ', () => {
    expect(matrixToScopes(matrix({ room: 'write' }))).toEqual(['*:write']);
    expect(
      matrixToScopes(matrix({ room: 'read', storage: 'write', 'comments:private': 'none' })),
    ).toEqual(['*:read', 'storage:write', 'comments:private:none']);
  });
});

describe('validateScopes', () => {
  it('accepts an empty list for room accesses and refuses it where a base is required', () => {
    expect(validateScopes([], false)).toBeUndefined();
    expect(validateScopes([], true)).toMatch(/must include \*:read or \*:write/);
    expect(validateScopes(['room:read', 'room:presence:write'], true)).toBeUndefined();
  });

  it('names unknown scopes and refuses what is not a list', () => {
    expect(validateScopes(['room:write', 'room:admin', 'x'], false)).toBe(
      'unknown permission scope(s): "room:admin", "x"',
    );
    expect(validateScopes('room:write', false)).toMatch(/must be an array/);
    expect(validateScopes([1], false)).toMatch(/unknown permission scope\(s\): 1/);
  });
});
