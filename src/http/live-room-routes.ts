import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';

import { WeftError } from '../errors.js';
import type { Room } from '../rooms/room.js';
import { NO_ORIGIN } from '../rooms/log-entry-codec.js';
import { YdocTypeMismatchError, ydocToJson } from '../rooms/ydoc-json.js';
import { isReadableYjsUpdate } from '../rooms/yjs-documents.js';
import type { AppContext } from './app-context.js';
import { withLiveRoom } from './with-live-room.js';

/** Actor id receivers see for a broadcast from the REST API. */
const REST_ACTOR = -1;

/** Bounds and default of a REST presence's ttl, in seconds, as Liveblocks documents them. */
const MIN_PRESENCE_TTL_S = 2;
const MAX_PRESENCE_TTL_S = 3599;
const DEFAULT_PRESENCE_TTL_S = 60;

/**
 * Longest user info of a REST presence, in characters of JSON: what Liveblocks allows in a
 * token's `userInfo`, since connections receive both alike.
 */
const MAX_USER_INFO_CHARS = 1024;

const RoomParams = Type.Object({ roomId: Type.String() });
const YdocQuery = Type.Object({
  key: Type.Optional(Type.String()),
  type: Type.Optional(Type.String()),
  formatting: Type.Optional(Type.String()),
});
const PresenceBody = Type.Object(
  {
    userId: Type.String({ minLength: 1, maxLength: 256 }),
    data: Type.Record(Type.String(), Type.Unknown()),
    userInfo: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    ttl: Type.Optional(Type.Integer({ minimum: MIN_PRESENCE_TTL_S, maximum: MAX_PRESENCE_TTL_S })),
  },
  { additionalProperties: false },
);
const GuidQuery = Type.Object({
  guid: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  encoder: Type.Optional(Type.String()),
});

/**
 * REST routes over a live room, as `@liveblocks/node` 3.24.2 calls them: the Yjs document as
 * JSON or binary, a Yjs update that goes through the room log like any client's, the users
 * present, broadcast events, presences set from the back end, and prewarming. A room that is
 * not loaded is loaded for the call.
 */
export function registerLiveRoomRoutes(fastify: FastifyInstance, context: AppContext): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  const withRoom = <T>(roomId: string, work: (room: Room) => Promise<T> | T) =>
    withLiveRoom(context, roomId, work);

  app.get(
    '/v2/rooms/:roomId/ydoc',
    { schema: { params: RoomParams, querystring: YdocQuery } },
    async (request, reply) => {
      const { key, type, formatting } = request.query;
      const view = await withRoom(request.params.roomId, (room) => {
        try {
          return ydocToJson(room.documents.get(null), {
            key,
            type,
            formatting: formatting === 'true',
          });
        } catch (error) {
          if (error instanceof YdocTypeMismatchError) {
            throw new WeftError('UNPROCESSABLE_ENTITY', error.message);
          }
          throw error;
        }
      });
      // Serialised here: a bare string (one text read with `type`) must stay a JSON string.
      return reply.type('application/json').send(JSON.stringify(view));
    },
  );

  app.get(
    '/v2/rooms/:roomId/ydoc-binary',
    { schema: { params: RoomParams, querystring: GuidQuery } },
    async (request, reply) => {
      const guid = request.query.guid ?? null;
      const state = await withRoom(request.params.roomId, (room) =>
        room.documents.diff(guid, undefined, false),
      );
      return reply.type('application/octet-stream').send(Buffer.from(state));
    },
  );

  app.put(
    '/v2/rooms/:roomId/ydoc',
    { schema: { params: RoomParams, querystring: GuidQuery } },
    async (request, reply) => {
      const body = request.body;
      if (!Buffer.isBuffer(body)) {
        throw new WeftError(
          'UNSUPPORTED_MEDIA_TYPE',
          'Send the update as application/octet-stream.',
        );
      }
      const v2 = request.query.encoder === 'v2';
      if (!isReadableYjsUpdate(body, v2)) {
        throw new WeftError(
          'UNPROCESSABLE_ENTITY',
          `The body is not a Yjs ${v2 ? 'v2' : 'v1'} update (pass encoder=v2 for the v2 encoding).`,
        );
      }
      await withRoom(request.params.roomId, async (room) => {
        const seq = await room.submitYjsUpdate(NO_ORIGIN, request.query.guid ?? null, body, v2);
        // Read-your-writes: a GET after this PUT sees the update.
        await room.waitApplied(seq);
      });
      return reply.status(200).send({});
    },
  );

  for (const path of ['/v2/rooms/:roomId/active-users', '/v2/rooms/:roomId/active_users']) {
    app.get(path, { schema: { params: RoomParams } }, async (request) =>
      withRoom(request.params.roomId, (room) => ({
        data: room.presence.allMembers().map((member) => ({
          type: 'user',
          id: member.user.id,
          connectionId: member.actor,
          info: member.user.info ?? {},
        })),
      })),
    );
  }

  // Loading is all prewarming does: the room then stays until ROOM_IDLE_UNLOAD_MS passes unused.
  app.get(
    '/v2/rooms/:roomId/prewarm',
    { schema: { params: RoomParams } },
    async (request, reply) => {
      await withRoom(request.params.roomId, () => undefined);
      return reply.status(204).send();
    },
  );

  app.post(
    '/v2/rooms/:roomId/presence',
    { schema: { params: RoomParams, body: PresenceBody } },
    async (request, reply) => {
      const { userId, data, userInfo, ttl } = request.body;
      if (userInfo !== undefined && JSON.stringify(userInfo).length > MAX_USER_INFO_CHARS) {
        throw new WeftError(
          'UNPROCESSABLE_ENTITY',
          `userInfo is longer than ${MAX_USER_INFO_CHARS} characters of JSON.`,
        );
      }
      await withRoom(request.params.roomId, (room) =>
        room.presence.timed.set({
          userId,
          info: userInfo,
          data,
          ttlMs: (ttl ?? DEFAULT_PRESENCE_TTL_S) * 1000,
        }),
      );
      return reply.status(204).send();
    },
  );

  for (const path of ['/v2/rooms/:roomId/broadcast-event', '/v2/rooms/:roomId/broadcast_event']) {
    app.post(path, { schema: { params: RoomParams } }, async (request, reply) => {
      if (request.body === undefined) {
        throw new WeftError('UNPROCESSABLE_ENTITY', 'Send the event as a JSON body.');
      }
      await withRoom(request.params.roomId, (room) =>
        room.presence.broadcast(REST_ACTOR, request.body),
      );
      return reply.status(204).send();
    });
  }
}
