/**
 * Permission scopes and room patterns, with the meaning `@liveblocks/client` 3.24.2 gives them:
 * a base room access (`*:read` / `*:write`, legacy `room:read` / `room:write`) and optional
 * per-feature overrides (`storage:…`, `comments[:public|:private]:…`, `feeds:…`). The scopes
 * Weft sends in ROOM_STATE must be on the client's list, or the client throws on join.
 */

/** An access level, weakest first. */
export type AccessLevel = 'none' | 'read' | 'write';

/** Features a scope may override. */
export type Feature = 'storage' | 'comments' | 'comments:public' | 'comments:private' | 'feeds';

/** Resolved access of one connection to one room. */
export interface PermissionMatrix {
  room: AccessLevel;
  storage: AccessLevel;
  comments: AccessLevel;
  'comments:public': AccessLevel;
  'comments:private': AccessLevel;
  feeds: AccessLevel;
}

/** Every scope a token or a room's accesses may hold. */
export const VALID_SCOPES: ReadonlySet<string> = new Set([
  '*:read',
  '*:write',
  'room:read',
  'room:write',
  'room:presence:write',
  ...['storage', 'comments', 'comments:public', 'comments:private', 'feeds'].flatMap((feature) =>
    ['read', 'write', 'none'].map((level) => `${feature}:${level}`),
  ),
]);

/** At most this many patterns in one access token, as the SDK enforces. */
export const MAX_PATTERNS_PER_TOKEN = 10;

const RANK: Record<AccessLevel, number> = { none: 0, read: 1, write: 2 };
const FEATURES: readonly Feature[] = [
  'storage',
  'comments',
  'comments:public',
  'comments:private',
  'feeds',
];
const BASE_SCOPES: Record<string, AccessLevel> = {
  '*:read': 'read',
  'room:read': 'read',
  '*:write': 'write',
  'room:write': 'write',
};
const PATTERN = /^([*]|[^*]{1,128}[*]?)$/;

/** Explicit levels a list of scopes sets; absent keys are not set by the list. */
type ExplicitLevels = Partial<Record<'room' | Feature, AccessLevel>>;

/** True when the string is one of {@link VALID_SCOPES}. */
export function isValidScope(scope: unknown): scope is string {
  return typeof scope === 'string' && VALID_SCOPES.has(scope);
}

/** True when the string is a valid room pattern: 1–128 characters, at most one trailing `*`. */
export function isValidRoomPattern(pattern: unknown): pattern is string {
  return typeof pattern === 'string' && PATTERN.test(pattern);
}

/** Whether a pattern (exact id, or prefix ending in `*`) covers a room id. */
export function patternMatches(pattern: string, roomId: string): boolean {
  return pattern.endsWith('*') ? roomId.startsWith(pattern.slice(0, -1)) : pattern === roomId;
}

/**
 * Access of an access token's permissions to a room: the strongest base level over every
 * matching pattern; for a feature, the most specific (longest) matching pattern wins.
 * Undefined when no pattern matches.
 */
export function resolveAccessTokenPermissions(
  perms: Readonly<Record<string, readonly string[]>>,
  roomId: string,
): PermissionMatrix | undefined {
  const explicit: ExplicitLevels = {};
  const specificity: Partial<Record<Feature, number>> = {};
  let matched = false;

  for (const [pattern, scopes] of Object.entries(perms)) {
    if (!patternMatches(pattern, roomId)) continue;
    matched = true;

    const levels = explicitLevels(scopes);
    const weight = pattern.replace('*', '').length;
    if (levels.room) explicit.room = strongest(explicit.room ?? 'none', levels.room);
    for (const feature of FEATURES) {
      const level = featureLevel(levels, feature);
      if (level === undefined) continue;

      const current = specificity[feature] ?? -1;
      if (weight > current) {
        explicit[feature] = level;
        specificity[feature] = weight;
      } else if (weight === current) {
        explicit[feature] = strongest(explicit[feature] ?? 'none', level);
      }
    }
  }
  return matched ? completeMatrix(explicit) : undefined;
}

/**
 * Access of an ID token's user to a room from the room's accesses: the defaults, overridden by
 * the strongest of the user's groups, overridden by the user's own entry.
 */
export function resolveRoomAccesses(accesses: {
  defaultAccesses: readonly string[];
  groupsAccesses: readonly (readonly string[])[];
  userAccesses: readonly string[];
}): PermissionMatrix {
  const groups: ExplicitLevels = {};
  for (const scopes of accesses.groupsAccesses) {
    const levels = explicitLevels(scopes);
    if (levels.room) groups.room = strongest(groups.room ?? 'none', levels.room);
    for (const feature of FEATURES) {
      const level = featureLevel(levels, feature);
      if (level !== undefined) groups[feature] = strongest(groups[feature] ?? 'none', level);
    }
  }

  const merged: ExplicitLevels = {};
  for (const source of [
    explicitLevels(accesses.defaultAccesses),
    groups,
    explicitLevels(accesses.userAccesses),
  ]) {
    if (source.room) merged.room = source.room;
    for (const feature of FEATURES) {
      const level = featureLevel(source, feature);
      if (level !== undefined) merged[feature] = level;
    }
  }
  return completeMatrix(merged);
}

/** The scopes that describe a matrix, in the form the client parses (ROOM_STATE, USER_JOINED). */
export function matrixToScopes(matrix: PermissionMatrix): string[] {
  const scopes: string[] = [];
  const base = matrix.room;

  if (base !== 'none') scopes.push(`*:${base}`);
  if (matrix.storage !== base) scopes.push(`storage:${matrix.storage}`);
  if (matrix.comments !== base) scopes.push(`comments:${matrix.comments}`);
  for (const feature of ['comments:public', 'comments:private'] as const) {
    if (matrix[feature] !== matrix.comments) scopes.push(`${feature}:${matrix[feature]}`);
  }
  if (matrix.feeds !== base) scopes.push(`feeds:${matrix.feeds}`);
  return scopes;
}

/** True when the matrix lets a connection into the room at all. */
export function canEnter(matrix: PermissionMatrix): boolean {
  return matrix.room !== 'none';
}

/** True when the connection may write Storage and Yjs. */
export function canWriteStorage(matrix: PermissionMatrix): boolean {
  return matrix.storage === 'write';
}

/** True when the connection may read Storage and Yjs. */
export function canReadStorage(matrix: PermissionMatrix): boolean {
  return RANK[matrix.storage] >= RANK.read;
}

/**
 * Validates one scope list (a token pattern's or a room access entry's). Returns an error
 * message naming the problem, or undefined when valid. `requireBase` demands exactly one base
 * scope, as the SDK's permission-set check does.
 */
export function validateScopes(scopes: unknown, requireBase: boolean): string | undefined {
  if (!Array.isArray(scopes)) return 'a permission list must be an array of strings';

  const unknown = scopes.filter((scope) => !isValidScope(scope));
  if (unknown.length > 0) {
    return `unknown permission scope(s): ${unknown.map((s) => JSON.stringify(s)).join(', ')}`;
  }
  const bases = scopes.filter((scope: string) => scope in BASE_SCOPES);
  if (requireBase && bases.length === 0) {
    return 'a permission list must include *:read or *:write (or room:read / room:write)';
  }
  return undefined;
}

function explicitLevels(scopes: readonly string[]): ExplicitLevels {
  const levels: ExplicitLevels = {};
  for (const scope of scopes) {
    const base = BASE_SCOPES[scope];
    if (base) {
      levels.room = strongest(levels.room ?? 'none', base);
      continue;
    }

    const cut = scope.lastIndexOf(':');
    const feature = scope.slice(0, cut) as Feature;
    const level = scope.slice(cut + 1) as AccessLevel;
    if (FEATURES.includes(feature) && level in RANK) {
      // Within one list the strongest mention of a feature counts.
      levels[feature] = strongest(levels[feature] ?? 'none', level);
    }
  }
  return levels;
}

/** A comment-visibility feature inherits the plain `comments:` level of the same list. */
function featureLevel(levels: ExplicitLevels, feature: Feature): AccessLevel | undefined {
  return levels[feature] ?? (feature.startsWith('comments:') ? levels.comments : undefined);
}

function completeMatrix(explicit: ExplicitLevels): PermissionMatrix {
  const base = explicit.room;
  if (base === undefined) {
    return {
      room: 'none',
      storage: 'none',
      comments: 'none',
      'comments:public': 'none',
      'comments:private': 'none',
      feeds: 'none',
    };
  }
  const comments = explicit.comments ?? base;
  return {
    room: base,
    storage: explicit.storage ?? base,
    comments,
    'comments:public': explicit['comments:public'] ?? comments,
    'comments:private': explicit['comments:private'] ?? comments,
    feeds: explicit.feeds ?? base,
  };
}

function strongest(left: AccessLevel, right: AccessLevel): AccessLevel {
  return RANK[right] > RANK[left] ? right : left;
}
