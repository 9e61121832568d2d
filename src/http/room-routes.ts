import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';

import { WeftError } from '../errors.js';
import type { RoomRecord } from '../store/room-repository.js';
import type { AppContext, RealtimeHooks } from './app-context.js';
import {
  applyRoomUpdate,
  checkRoomId,
  isEmptyUpdate,
  newRoom,
  requestedOrganization,
} from './room-fields.js';
import {
  MAX_ROOM_QUERY_LENGTH,
  parseRoomQuery,
  roomMatches,
  type RoomCondition,
} from './room-query.js';

/** Rooms per page of `GET /v2/rooms` when the caller names no limit (Liveblocks' default). */
const DEFAULT_PAGE_SIZE = 20;
/** Most group ids one `GET /v2/rooms` may filter on. */
const MAX_FILTER_GROUPS = 100;
/** Attempts of an upsert that races with a concurrent create or delete of the same id. */
const UPSERT_ATTEMPTS = 3;
/** Prefix of the legacy `metadata.KEY=value` query parameters of `GET /v2/rooms`. */
const LEGACY_METADATA_PARAM = 'metadata.';

const OrganizationIdField = Type.String({ minLength: 1, maxLength: 256 });
// Accesses and metadata are checked by room-fields.ts, whose messages name the offending key.
const RoomFields = {
  defaultAccesses: Type.Optional(Type.Unknown()),
  usersAccesses: Type.Optional(Type.Unknown()),
  groupsAccesses: Type.Optional(Type.Unknown()),
  metadata: Type.Optional(Type.Unknown()),
  organizationId: Type.Optional(OrganizationIdField),
  tenantId: Type.Optional(OrganizationIdField),
};

const RoomParams = Type.Object({ roomId: Type.String() });
const ListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  startingAfter: Type.Optional(Type.String()),
  userId: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  groupIds: Type.Optional(Type.String()),
  query: Type.Optional(Type.String({ maxLength: MAX_ROOM_QUERY_LENGTH })),
  organizationId: Type.Optional(OrganizationIdField),
  tenantId: Type.Optional(OrganizationIdField),
});
const CreateQuery = Type.Object({ idempotent: Type.Optional(Type.String()) });
const CreateBody = Type.Object(
  { id: Type.String(), ...RoomFields },
  { additionalProperties: false },
);
const UpdateBody = Type.Object(RoomFields, { additionalProperties: false });
const UpsertBody = Type.Object(
  { update: UpdateBody, create: Type.Optional(UpdateBody) },
  { additionalProperties: false },
);
const RenameBody = Type.Object({ newRoomId: Type.String() }, { additionalProperties: false });
const OrganizationBody = Type.Object(
  { fromOrganizationId: Type.Optional(OrganizationIdField), toOrganizationId: OrganizationIdField },
  { additionalProperties: false },
);

/** A room as `@liveblocks/node` parses it (it turns the two dates into `Date`s). */
export interface RoomJson {
  type: 'room';
  id: string;
  organizationId: string;
  createdAt: string;
  lastConnectionAt?: string;
  defaultAccesses: string[];
  usersAccesses: Record<string, string[]>;
  groupsAccesses: Record<string, string[]>;
  metadata: Record<string, string | string[]>;
}

/**
 * The `/v2/rooms` REST API as `@liveblocks/node` 3.24.2 calls it: list with filters and cursor
 * pagination, create (`?idempotent`), get, update, delete, upsert, rename, and the refused
 * organization change. Room ids are project-wide; `organizationId` is fixed at creation.
 */
export function registerRoomRoutes(fastify: FastifyInstance, context: AppContext): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const rooms = context.store.rooms;

  app.get('/v2/rooms', { schema: { querystring: ListQuery } }, async (request) => {
    const query = request.query;
    const conditions = [
      ...parseRoomQuery(query.query ?? ''),
      ...legacyMetadataConditions(query as Record<string, unknown>),
    ];
    const hasAccess = accessFilter(query.userId, query.groupIds);

    const page = await rooms.list({
      organizationId: requestedOrganization(query),
      idPrefix: narrowestIdPrefix(conditions),
      startingAfter: query.startingAfter,
      where: (room) => roomMatches(room, conditions) && hasAccess(room),
      limit: query.limit ?? DEFAULT_PAGE_SIZE,
    });
    return { nextCursor: page.nextCursor, data: page.rooms.map(toRoomJson) };
  });

  app.post(
    '/v2/rooms',
    { schema: { querystring: CreateQuery, body: CreateBody } },
    async (request) => {
      const { id, ...fields } = request.body;
      const room = newRoom(id, fields);

      if (!isIdempotent(request.query.idempotent)) {
        await rooms.create(room);
        request.log.info({ room: id, org: room.organizationId }, 'room created');
        return toRoomJson(room);
      }

      const result = await rooms.createIfAbsent(room);
      if (!result.created && result.room.organizationId !== room.organizationId) {
        throw new WeftError(
          'ROOM_ALREADY_EXISTS',
          `Room "${id}" exists in organization "${result.room.organizationId}", not "${room.organizationId}". Room ids are unique across organizations.`,
        );
      }
      if (result.created) request.log.info({ room: id, org: room.organizationId }, 'room created');
      return toRoomJson(result.room);
    },
  );

  app.get('/v2/rooms/:roomId', { schema: { params: RoomParams } }, async (request) => {
    const room = await rooms.get(request.params.roomId);
    if (!room) throw roomNotFound(request.params.roomId);
    return toRoomJson(room);
  });

  app.post(
    '/v2/rooms/:roomId',
    { schema: { params: RoomParams, body: UpdateBody } },
    async (request) => {
      const { roomId } = request.params;
      const room = await rooms.update(roomId, (current) => applyRoomUpdate(current, request.body));
      if (!room) throw roomNotFound(roomId);

      await tellRealtime(context, request.log, roomId, (hooks) => hooks.roomUpdated(roomId));
      return toRoomJson(room);
    },
  );

  app.delete('/v2/rooms/:roomId', { schema: { params: RoomParams } }, async (request, reply) => {
    const { roomId } = request.params;
    const record = await rooms.get(roomId);
    if (!record || !(await rooms.delete(roomId))) throw roomNotFound(roomId);
    request.log.info({ org: record.organizationId, room: roomId }, 'room deleted');

    await tellRealtime(context, request.log, roomId, (hooks) =>
      hooks.roomDeleted(roomId, record.organizationId),
    );
    return reply.status(204).send();
  });

  app.post(
    '/v2/rooms/:roomId/upsert',
    { schema: { params: RoomParams, body: UpsertBody } },
    async (request) => {
      const { roomId } = request.params;
      const { update, create = {} } = request.body;
      if (isEmptyUpdate(update)) {
        throw new WeftError('UNPROCESSABLE_ENTITY', 'update must name at least one field.');
      }

      const room = await upsert(context, roomId, update, create);
      await tellRealtime(context, request.log, roomId, (hooks) => hooks.roomUpdated(roomId));
      return toRoomJson(room);
    },
  );

  app.post(
    '/v2/rooms/:roomId/update-room-id',
    { schema: { params: RoomParams, body: RenameBody } },
    async (request) => {
      const { roomId } = request.params;
      const { newRoomId } = request.body;
      checkRoomId(newRoomId, 'newRoomId');

      if (newRoomId === roomId) {
        const room = await rooms.get(roomId);
        if (!room) throw roomNotFound(roomId);
        return toRoomJson(room);
      }
      const room = await rooms.rename(roomId, newRoomId);
      request.log.info({ room: roomId, newRoom: newRoomId }, 'room renamed');

      await tellRealtime(context, request.log, roomId, (hooks) =>
        hooks.roomRenamed(roomId, newRoomId),
      );
      return toRoomJson(room);
    },
  );

  app.post(
    '/v2/rooms/:roomId/update-organization-id',
    { schema: { params: RoomParams, body: OrganizationBody } },
    async (request) => {
      const { roomId } = request.params;
      const { fromOrganizationId, toOrganizationId } = request.body;
      const room = await rooms.get(roomId);
      if (!room) throw roomNotFound(roomId);

      // Asking for the organization the room already has changes nothing, so it is allowed;
      // every real move is refused.
      const from = fromOrganizationId ?? room.organizationId;
      if (from === room.organizationId && toOrganizationId === room.organizationId) {
        return toRoomJson(room);
      }
      throw new WeftError(
        'ORGANIZATION_IMMUTABLE',
        `Room "${roomId}" belongs to organization "${room.organizationId}" and cannot move to "${toOrganizationId}": organizations never change. Create a new room in that organization and migrate the data.`,
      );
    },
  );
}

/** The wire form of a room; `lastConnectionAt` is left out until someone has connected. */
export function toRoomJson(room: RoomRecord): RoomJson {
  return {
    type: 'room',
    id: room.id,
    organizationId: room.organizationId,
    createdAt: room.createdAt,
    ...(room.lastConnectionAt !== null ? { lastConnectionAt: room.lastConnectionAt } : {}),
    defaultAccesses: room.defaultAccesses,
    usersAccesses: room.usersAccesses,
    groupsAccesses: room.groupsAccesses,
    metadata: room.metadata,
  };
}

/**
 * Updates the room when it exists; otherwise creates it from `create` with `update` applied on
 * top. The organization of a new room comes from `create`, else from `update`, else "default".
 */
async function upsert(
  context: AppContext,
  roomId: string,
  update: Parameters<typeof applyRoomUpdate>[1],
  create: Parameters<typeof newRoom>[1],
): Promise<RoomRecord> {
  const rooms = context.store.rooms;
  const organizationId = requestedOrganization(create) ?? requestedOrganization(update);
  // Without defaultAccesses anywhere the new room is private, the safe reading of "no access".
  const initial = applyRoomUpdate(
    newRoom(roomId, { ...create, tenantId: undefined, organizationId }, []),
    update,
  );

  for (let attempt = 0; attempt < UPSERT_ATTEMPTS; attempt += 1) {
    const updated = await rooms.update(roomId, (current) => applyRoomUpdate(current, update));
    if (updated) return updated;

    const { room, created } = await rooms.createIfAbsent(initial);
    if (created) return room;
    // Created by someone else between the two statements: update that room instead.
  }
  throw new WeftError('ROOM_ALREADY_EXISTS', `Room "${roomId}" keeps changing; retry the upsert.`);
}

/** `?idempotent` and `?idempotent=true` turn it on; `=false` and `=0` leave it off. */
function isIdempotent(flag: string | undefined): boolean {
  return flag !== undefined && flag !== 'false' && flag !== '0';
}

/**
 * `userId` and `groupIds` select rooms that give that user, or any of those groups, an entry in
 * their accesses. Liveblocks documents OR between the user and the groups.
 */
function accessFilter(
  userId: string | undefined,
  groupIdList: string | undefined,
): (room: RoomRecord) => boolean {
  const groupIds = (groupIdList ?? '')
    .split(',')
    .map((id) => id.trim())
    .filter((id) => id !== '');
  if (groupIds.length > MAX_FILTER_GROUPS) {
    throw new WeftError(
      'UNPROCESSABLE_ENTITY',
      `groupIds may name at most ${MAX_FILTER_GROUPS} groups, got ${groupIds.length}.`,
    );
  }
  if (userId === undefined && groupIds.length === 0) return () => true;

  return (room) =>
    (userId !== undefined && Object.hasOwn(room.usersAccesses, userId)) ||
    groupIds.some((id) => Object.hasOwn(room.groupsAccesses, id));
}

/** `metadata.KEY=value` parameters, the older REST form of metadata equality. */
function legacyMetadataConditions(query: Record<string, unknown>): RoomCondition[] {
  const conditions: RoomCondition[] = [];
  for (const [name, value] of Object.entries(query)) {
    if (!name.startsWith(LEGACY_METADATA_PARAM)) continue;
    if (typeof value !== 'string') {
      throw new WeftError('UNPROCESSABLE_ENTITY', `Give ${name} once, as one string.`);
    }
    const key = name.slice(LEGACY_METADATA_PARAM.length);
    conditions.push({ field: 'metadata', key, operator: 'equals', value });
  }
  return conditions;
}

/** The longest id prefix every result must have, so the store scans the fewest rows. */
function narrowestIdPrefix(conditions: readonly RoomCondition[]): string | undefined {
  let prefix: string | undefined;
  for (const condition of conditions) {
    if (condition.field !== 'roomId') continue;
    if (prefix === undefined || condition.value.length > prefix.length) prefix = condition.value;
  }
  return prefix;
}

function roomNotFound(roomId: string): WeftError {
  return new WeftError('ROOM_NOT_FOUND', `Room "${roomId}" does not exist.`);
}

/**
 * Tells live connections about a change that is already committed. A failure there is logged,
 * not returned: the REST change happened and answering 500 would invite a retry that fails.
 */
async function tellRealtime(
  context: AppContext,
  log: FastifyBaseLogger,
  roomId: string,
  call: (hooks: RealtimeHooks) => Promise<void>,
): Promise<void> {
  const hooks = context.realtime;
  if (!hooks) return;
  try {
    await call(hooks);
  } catch (error) {
    log.error({ err: error, room: roomId }, 'realtime hook failed');
  }
}
