import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';

import { WeftError } from '../errors.js';
import type { AppContext } from './app-context.js';

/** Page size of a user's settings list when the caller gives none. */
const DEFAULT_PAGE_SIZE = 50;
/** Largest page of a user's settings list. */
const MAX_PAGE_SIZE = 100;

const IdField = Type.String({ minLength: 1, maxLength: 256 });

const RoomUserParams = Type.Object({ roomId: IdField, userId: IdField });
const UserParams = Type.Object({ userId: IdField });

const SettingsPatch = Type.Object(
  {
    threads: Type.Optional(
      Type.Union([Type.Literal('all'), Type.Literal('replies_and_mentions'), Type.Literal('none')]),
    ),
    textMentions: Type.Optional(Type.Union([Type.Literal('mine'), Type.Literal('none')])),
  },
  { additionalProperties: false },
);

const ListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE })),
  startingAfter: Type.Optional(IdField),
  organizationId: Type.Optional(IdField),
});

/**
 * Room subscription settings of the secret-key API:
 * `/v2/rooms/{roomId}/users/{userId}/subscription-settings` (get, partial update, delete) and
 * `GET /v2/users/{userId}/room-subscription-settings`. Settings belong to the room's
 * organization; an unknown room is a 404.
 */
export function registerSubscriptionSettingsRoutes(
  fastify: FastifyInstance,
  context: AppContext,
): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const settings = context.store.subscriptionSettings;
  const path = '/v2/rooms/:roomId/users/:userId/subscription-settings';

  app.get(path, { schema: { params: RoomUserParams } }, async (request) => {
    const { roomId, userId } = request.params;
    const found = await settings.get(roomId, userId);
    if (!found) throw roomNotFound(roomId);
    return found;
  });

  app.post(path, { schema: { params: RoomUserParams, body: SettingsPatch } }, async (request) => {
    const { roomId, userId } = request.params;
    const updated = await settings.update(roomId, userId, request.body);
    if (!updated) throw roomNotFound(roomId);
    return updated;
  });

  app.delete(path, { schema: { params: RoomUserParams } }, async (request, reply) => {
    const { roomId, userId } = request.params;
    if (!(await settings.delete(roomId, userId))) throw roomNotFound(roomId);
    return reply.status(204).send();
  });

  app.get(
    '/v2/users/:userId/room-subscription-settings',
    { schema: { params: UserParams, querystring: ListQuery } },
    async (request) => {
      const { limit, startingAfter, organizationId } = request.query;
      const page = await settings.listForUser({
        userId: request.params.userId,
        organizationId,
        startingAfter,
        limit: limit ?? DEFAULT_PAGE_SIZE,
      });
      return { nextCursor: page.nextCursor, data: page.settings };
    },
  );
}

function roomNotFound(roomId: string): WeftError {
  return new WeftError('ROOM_NOT_FOUND', `Room "${roomId}" does not exist.`);
}
