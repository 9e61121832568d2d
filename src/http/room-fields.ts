import { validateScopes } from '../auth/permissions.js';
import { DEFAULT_ORGANIZATION } from '../auth/token-service.js';
import { WeftError } from '../errors.js';
import { roomIdProblem, type RoomMetadata, type RoomRecord } from '../store/room-repository.js';

/** Liveblocks' limit of ids in `usersAccesses`, and of ids in `groupsAccesses`. */
export const MAX_ACCESS_ENTRIES = 100;
/** Longest user or group id in an accesses map, as identify-user accepts. */
export const MAX_ACCESS_ID_LENGTH = 256;
/** At most this many metadata keys per room (Liveblocks' limit). */
export const MAX_METADATA_KEYS = 50;
/** Longest metadata key (Liveblocks' limit). */
export const MAX_METADATA_KEY_LENGTH = 40;
/** Longest metadata string, alone or in a list (Liveblocks' limit). */
export const MAX_METADATA_VALUE_LENGTH = 256;
/**
 * Most strings in one metadata list. Liveblocks documents no bound; Weft sets one so that a
 * room's metadata stays a few hundred kilobytes at most.
 */
export const MAX_METADATA_LIST_ITEMS = 50;

/** The fields a room is created with (the body of `POST /v2/rooms`, without `id`). */
export interface RoomCreateFields {
  defaultAccesses?: unknown;
  usersAccesses?: unknown;
  groupsAccesses?: unknown;
  metadata?: unknown;
  organizationId?: string;
  tenantId?: string;
}

/** The body of a room update: every field optional, `null` removes. */
export interface RoomUpdateFields {
  defaultAccesses?: unknown;
  usersAccesses?: unknown;
  groupsAccesses?: unknown;
  metadata?: unknown;
  organizationId?: string;
  tenantId?: string;
}

/** Throws UNPROCESSABLE_ENTITY when `id` breaks the room id rule; `field` names it. */
export function checkRoomId(id: string, field: string): void {
  const problem = roomIdProblem(id);
  if (problem) throw invalid(`${field}: ${problem}.`);
}

/**
 * The organization a request names through `organizationId` or its deprecated alias `tenantId`;
 * undefined when it names none. Both naming different organizations is a contradiction.
 */
export function requestedOrganization(fields: {
  organizationId?: string;
  tenantId?: string;
}): string | undefined {
  const { organizationId, tenantId } = fields;
  if (organizationId !== undefined && tenantId !== undefined && organizationId !== tenantId) {
    throw invalid('organizationId and tenantId name different organizations; send only one.');
  }
  return organizationId ?? tenantId;
}

/**
 * Builds a new room from creation fields, validating each. `defaultAccesses` is required by
 * Liveblocks; `fallbackDefaultAccesses` lets upsert create a room that names none.
 */
export function newRoom(
  id: string,
  fields: RoomCreateFields,
  fallbackDefaultAccesses?: string[],
): RoomRecord {
  checkRoomId(id, 'id');
  if (fields.defaultAccesses === undefined && fallbackDefaultAccesses === undefined) {
    throw invalid('defaultAccesses is required: [] for a private room, ["room:write"] for public.');
  }

  return {
    id,
    organizationId: requestedOrganization(fields) ?? DEFAULT_ORGANIZATION,
    createdAt: new Date().toISOString(),
    lastConnectionAt: null,
    defaultAccesses:
      fields.defaultAccesses === undefined
        ? fallbackDefaultAccesses!
        : checkScopes(fields.defaultAccesses, 'defaultAccesses'),
    usersAccesses: mergeAccesses({}, fields.usersAccesses, 'usersAccesses', false),
    groupsAccesses: mergeAccesses({}, fields.groupsAccesses, 'groupsAccesses', false),
    metadata: mergeMetadata({}, fields.metadata, false),
  };
}

/**
 * Applies an update to a room and returns the new room; throws a WeftError, writing nothing,
 * when any field is invalid. `null` removes a key of `usersAccesses`, `groupsAccesses` or
 * `metadata`; a top-level `null` clears the whole field (`defaultAccesses: null` makes the room
 * private). An `organizationId` other than the room's is refused: organizations never change.
 */
export function applyRoomUpdate(room: RoomRecord, update: RoomUpdateFields): RoomRecord {
  const organization = requestedOrganization(update);
  if (organization !== undefined && organization !== room.organizationId) {
    throw new WeftError(
      'ORGANIZATION_IMMUTABLE',
      `Room "${room.id}" belongs to organization "${room.organizationId}" and cannot move to "${organization}". Create a new room in that organization and migrate the data.`,
    );
  }

  return {
    ...room,
    defaultAccesses:
      update.defaultAccesses === undefined
        ? room.defaultAccesses
        : update.defaultAccesses === null
          ? []
          : checkScopes(update.defaultAccesses, 'defaultAccesses'),
    usersAccesses: mergeAccesses(room.usersAccesses, update.usersAccesses, 'usersAccesses', true),
    groupsAccesses: mergeAccesses(
      room.groupsAccesses,
      update.groupsAccesses,
      'groupsAccesses',
      true,
    ),
    metadata: mergeMetadata(room.metadata, update.metadata, true),
  };
}

/** True when an update names no field at all (upsert requires at least one). */
export function isEmptyUpdate(update: RoomUpdateFields): boolean {
  return (
    update.defaultAccesses === undefined &&
    update.usersAccesses === undefined &&
    update.groupsAccesses === undefined &&
    update.metadata === undefined &&
    update.organizationId === undefined &&
    update.tenantId === undefined
  );
}

function checkScopes(scopes: unknown, field: string): string[] {
  // Room accesses may be empty ([] = no access); only tokens need a base scope.
  const problem = validateScopes(scopes, false);
  if (problem) throw invalid(`${field}: ${problem}.`);
  return [...new Set(scopes as string[])];
}

function mergeAccesses(
  current: Record<string, string[]>,
  change: unknown,
  field: string,
  nullRemoves: boolean,
): Record<string, string[]> {
  if (change === undefined) return current;
  if (change === null && nullRemoves) return {};
  if (!isPlainObject(change)) throw invalid(`${field} must be an object of id → scope list.`);

  const next = { ...current };
  for (const [id, scopes] of Object.entries(change)) {
    if (id.length === 0 || id.length > MAX_ACCESS_ID_LENGTH) {
      throw invalid(`${field}: ids have 1–${MAX_ACCESS_ID_LENGTH} characters, got ${id.length}.`);
    }
    if (scopes === null && nullRemoves) {
      delete next[id];
      continue;
    }
    next[id] = checkScopes(scopes, `${field}[${JSON.stringify(id)}]`);
  }

  const count = Object.keys(next).length;
  if (count > MAX_ACCESS_ENTRIES) {
    throw invalid(`${field} may hold at most ${MAX_ACCESS_ENTRIES} ids, this would make ${count}.`);
  }
  return next;
}

function mergeMetadata(current: RoomMetadata, change: unknown, nullRemoves: boolean): RoomMetadata {
  if (change === undefined) return current;
  if (change === null && nullRemoves) return {};
  if (!isPlainObject(change)) throw invalid('metadata must be an object.');

  const next = { ...current };
  for (const [key, value] of Object.entries(change)) {
    const field = `metadata[${JSON.stringify(key)}]`;
    if (key.length === 0 || key.length > MAX_METADATA_KEY_LENGTH) {
      throw invalid(
        `metadata keys have 1–${MAX_METADATA_KEY_LENGTH} characters, got ${key.length}.`,
      );
    }
    if (value === null && nullRemoves) {
      delete next[key];
      continue;
    }
    next[key] = checkMetadataValue(value, field);
  }

  const count = Object.keys(next).length;
  if (count > MAX_METADATA_KEYS) {
    throw invalid(`metadata may hold at most ${MAX_METADATA_KEYS} keys, this would make ${count}.`);
  }
  return next;
}

function checkMetadataValue(value: unknown, field: string): string | string[] {
  const checkString = (text: unknown) => {
    if (typeof text !== 'string') {
      throw invalid(`${field} must be a string or a list of strings.`);
    }
    if (text.length > MAX_METADATA_VALUE_LENGTH) {
      throw invalid(
        `${field}: values have at most ${MAX_METADATA_VALUE_LENGTH} characters, got ${text.length}.`,
      );
    }
    return text;
  };

  if (!Array.isArray(value)) return checkString(value);
  if (value.length > MAX_METADATA_LIST_ITEMS) {
    throw invalid(`${field}: lists hold at most ${MAX_METADATA_LIST_ITEMS} strings.`);
  }
  return value.map(checkString);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(message: string): WeftError {
  return new WeftError('UNPROCESSABLE_ENTITY', message);
}
