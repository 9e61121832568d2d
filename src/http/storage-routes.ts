import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';

import { WeftError } from '../errors.js';
import type { Room } from '../rooms/room.js';
import type { AppContext } from './app-context.js';
import { withLiveRoom } from './with-live-room.js';

const RoomParams = Type.Object({ roomId: Type.String() });
const StorageQuery = Type.Object({ format: Type.Optional(Type.String()) });
const JSON_PATCH_TYPE = 'application/json-patch+json';

/**
 * A room's Storage over REST, as `@liveblocks/node` 3.24.2 calls it: read as plain LSON or as
 * plain JSON, initialized from plain LSON, deleted; and changed by a JSON Patch, as Liveblocks
 * documents it. Writes go through the room log like a
 * client's, so that every node and every connected client get them: connected clients receive
 * them as ops instead of being disconnected.
 */
export function registerStorageRoutes(fastify: FastifyInstance, context: AppContext): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  // RFC 6902's own media type, for clients that send it instead of application/json.
  if (!fastify.hasContentTypeParser(JSON_PATCH_TYPE)) {
    fastify.addContentTypeParser(JSON_PATCH_TYPE, { parseAs: 'string' }, (_request, body, done) => {
      try {
        done(null, JSON.parse(typeof body === 'string' ? body : body.toString('utf8')));
      } catch {
        done(new WeftError('INVALID_JSON'), undefined);
      }
    });
  }

  const withRoom = <T>(roomId: string, work: (room: Room) => Promise<T> | T) =>
    withLiveRoom(context, roomId, work);

  // Like the Liveblocks dev server, any format but "json" reads as plain LSON (the default).
  app.get(
    '/v2/rooms/:roomId/storage',
    { schema: { params: RoomParams, querystring: StorageQuery } },
    async (request) => {
      const json = request.query.format === 'json';
      return withRoom(request.params.roomId, (room) =>
        json ? room.storage.toJson() : room.storage.toPlainLson(),
      );
    },
  );

  app.post(
    '/v2/rooms/:roomId/storage',
    { schema: { params: RoomParams } },
    async (request, reply) => {
      const result = await withRoom(request.params.roomId, (room) =>
        room.initializeStorage(request.body),
      );
      if (result.outcome === 'not-empty') throw new WeftError('CANNOT_UPDATE_EXISTING_STORAGE');
      return reply.status(200).send(result.plainLson);
    },
  );

  app.patch(
    '/v2/rooms/:roomId/storage/json-patch',
    { schema: { params: RoomParams } },
    async (request, reply) => {
      if (!Array.isArray(request.body)) {
        throw new WeftError(
          'UNPROCESSABLE_ENTITY',
          'Send a JSON array of JSON Patch operations (RFC 6902).',
        );
      }
      const patch = request.body;
      const result = await withRoom(request.params.roomId, (room) => room.patchStorage(patch));
      if (result.outcome === 'patch-failed') {
        throw new WeftError('UNPROCESSABLE_ENTITY', `The patch was not applied: ${result.reason}.`);
      }
      return reply.status(200).send({});
    },
  );

  app.delete(
    '/v2/rooms/:roomId/storage',
    { schema: { params: RoomParams } },
    async (request, reply) => {
      await withRoom(request.params.roomId, (room) => room.deleteStorage());
      return reply.status(204).send();
    },
  );
}
