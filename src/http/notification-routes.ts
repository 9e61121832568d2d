import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';

import { DEFAULT_ORGANIZATION } from '../auth/token-service.js';
import { WeftError } from '../errors.js';
import type {
  InboxNotificationRecord,
  NotificationListFilter,
} from '../store/notification-repository.js';
import type { AppContext } from './app-context.js';

/** Page size of a notification list when the caller gives none. */
const DEFAULT_PAGE_SIZE = 50;
/** Largest page of a notification list. */
const MAX_PAGE_SIZE = 50;

const IdField = Type.String({ minLength: 1, maxLength: 256 });

const UserParams = Type.Object({ userId: IdField });
const NotificationParams = Type.Object({ userId: IdField, inboxNotificationId: IdField });

const TriggerBody = Type.Object(
  {
    userId: IdField,
    kind: Type.String({ minLength: 2, maxLength: 128 }),
    subjectId: IdField,
    activityData: Type.Record(
      Type.String(),
      Type.Union([Type.String(), Type.Number(), Type.Boolean()]),
    ),
    roomId: Type.Optional(IdField),
    organizationId: Type.Optional(IdField),
  },
  { additionalProperties: false },
);

const ListQuery = Type.Object({
  query: Type.Optional(Type.String({ maxLength: 1024 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE })),
  startingAfter: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
  organizationId: Type.Optional(IdField),
});

const OrganizationQuery = Type.Object({ organizationId: Type.Optional(IdField) });

/**
 * Inbox notifications of the secret-key API, owned by (organization, user):
 * `POST /v2/inbox-notifications/trigger` and `/v2/users/{userId}/inbox-notifications[/{id}]`.
 *
 * A notification triggered with a `roomId` belongs to that room's organization: without an
 * `organizationId` it takes the room's, and a different one is refused, so that a user signed in
 * for one organization never sees a notification about another organization's room.
 *
 * `POST /v2/users/{userId}/inbox-notifications/{id}/read` is Weft's own: `@liveblocks/node`
 * 3.24.2 has no call that marks a notification read from the back end (browsers do it through
 * `/v2/c/…`), but a self-hosted back end may need to.
 */
export function registerNotificationRoutes(fastify: FastifyInstance, context: AppContext): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const notifications = context.store.notifications;

  app.post(
    '/v2/inbox-notifications/trigger',
    { schema: { body: TriggerBody } },
    async (request) => {
      const body = request.body;
      if (!body.kind.startsWith('$')) {
        throw new WeftError(
          'UNPROCESSABLE_ENTITY',
          `Custom notification kinds start with "$" (got ${JSON.stringify(body.kind)}).`,
        );
      }

      const organizationId = await organizationOfTrigger(context, body);
      const created = await notifications.create({
        organizationId,
        userId: body.userId,
        kind: body.kind,
        subjectId: body.subjectId,
        roomId: body.roomId ?? null,
        activityData: body.activityData,
      });
      return toWire(created);
    },
  );

  app.get(
    '/v2/users/:userId/inbox-notifications',
    { schema: { params: UserParams, querystring: ListQuery } },
    async (request) => {
      const { query, limit, startingAfter, organizationId } = request.query;
      const page = await notifications.list({
        ...parseQuery(query),
        userId: request.params.userId,
        organizationId,
        startingAfter,
        limit: limit ?? DEFAULT_PAGE_SIZE,
      });
      return { nextCursor: page.nextCursor, data: page.notifications.map(toWire) };
    },
  );

  app.get(
    '/v2/users/:userId/inbox-notifications/:inboxNotificationId',
    { schema: { params: NotificationParams } },
    async (request) => {
      const { userId, inboxNotificationId } = request.params;
      return toWire(await findNotification(context, userId, inboxNotificationId));
    },
  );

  app.post(
    '/v2/users/:userId/inbox-notifications/:inboxNotificationId/read',
    { schema: { params: NotificationParams } },
    async (request) => {
      const { userId, inboxNotificationId } = request.params;
      await findNotification(context, userId, inboxNotificationId);

      await notifications.markRead({ userId, ids: [inboxNotificationId] });
      return toWire(await findNotification(context, userId, inboxNotificationId));
    },
  );

  app.delete(
    '/v2/users/:userId/inbox-notifications/:inboxNotificationId',
    { schema: { params: NotificationParams } },
    async (request, reply) => {
      const { userId, inboxNotificationId } = request.params;
      if (!(await notifications.delete(userId, inboxNotificationId))) {
        throw notFound(userId, inboxNotificationId);
      }
      return reply.status(204).send();
    },
  );

  app.delete(
    '/v2/users/:userId/inbox-notifications',
    { schema: { params: UserParams, querystring: OrganizationQuery } },
    async (request, reply) => {
      await notifications.deleteAll({
        userId: request.params.userId,
        organizationId: request.query.organizationId,
      });
      return reply.status(204).send();
    },
  );
}

/** The organization a triggered notification belongs to; see the rule on the register function. */
async function organizationOfTrigger(
  context: AppContext,
  body: { roomId?: string; organizationId?: string },
): Promise<string> {
  if (body.roomId === undefined) return body.organizationId ?? DEFAULT_ORGANIZATION;

  const room = await context.store.rooms.get(body.roomId);
  if (!room) throw new WeftError('ROOM_NOT_FOUND', `Room "${body.roomId}" does not exist.`);
  if (body.organizationId !== undefined && body.organizationId !== room.organizationId) {
    throw new WeftError(
      'UNPROCESSABLE_ENTITY',
      `Room "${room.id}" belongs to organization "${room.organizationId}", not "${body.organizationId}": a notification about a room belongs to the room's organization.`,
    );
  }
  return room.organizationId;
}

async function findNotification(
  context: AppContext,
  userId: string,
  id: string,
): Promise<InboxNotificationRecord> {
  const found = await context.store.notifications.get(userId, id);
  if (!found) throw notFound(userId, id);
  return found;
}

function notFound(userId: string, id: string): WeftError {
  return new WeftError('RESOURCE_NOT_FOUND', `User "${userId}" has no inbox notification "${id}".`);
}

/**
 * Parses the `query` filter of the Liveblocks query language: space- or `AND`-separated
 * `key:value` terms over `unread` (true/false), `kind` and `roomId` (quoted strings).
 */
function parseQuery(
  query: string | undefined,
): Pick<NotificationListFilter, 'unread' | 'kind' | 'roomId'> {
  const filter: Pick<NotificationListFilter, 'unread' | 'kind' | 'roomId'> = {};
  let rest = (query ?? '').trim();

  while (rest !== '') {
    const match = /^(\w+)\s*:\s*(true|false|'[^']*'|"(?:[^"\\]|\\.)*")(?:\s+AND\s+|\s+|$)/.exec(
      rest,
    );
    if (!match) throw badQuery(query!);

    const [term, key, raw] = match as unknown as [string, string, string];
    if (key === 'unread' && (raw === 'true' || raw === 'false')) {
      filter.unread = raw === 'true';
    } else if ((key === 'kind' || key === 'roomId') && /^['"]/.test(raw)) {
      filter[key] = unquote(raw);
    } else {
      throw badQuery(query!);
    }
    rest = rest.slice(term.length).trimStart();
  }
  return filter;
}

function unquote(raw: string): string {
  return raw.startsWith('"') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
}

function badQuery(query: string): WeftError {
  return new WeftError(
    'UNPROCESSABLE_ENTITY',
    `Cannot read the query ${JSON.stringify(query)}: use terms like unread:true, kind:'$x' or roomId:'r'.`,
  );
}

/**
 * The SDK's `InboxNotificationCustomData` with dates as ISO strings. Each trigger makes one
 * notification with one activity, so the activity shares the notification's time and id suffix.
 */
function toWire(notification: InboxNotificationRecord) {
  return {
    kind: notification.kind,
    id: notification.id,
    ...(notification.roomId === null ? {} : { roomId: notification.roomId }),
    subjectId: notification.subjectId,
    notifiedAt: notification.notifiedAt,
    readAt: notification.readAt,
    activities: [
      {
        id: `ac_${notification.id.replace(/^in_/, '')}`,
        createdAt: notification.notifiedAt,
        data: notification.activityData,
      },
    ],
  };
}
