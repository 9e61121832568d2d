import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';

import { DEFAULT_ORGANIZATION } from '../auth/token-service.js';
import { WeftError } from '../errors.js';
import type { GroupRecord } from '../store/group-repository.js';
import type { AppContext } from './app-context.js';

/** Page size of a group list when the caller gives none. */
const DEFAULT_PAGE_SIZE = 20;
/** Largest page of a group list. */
const MAX_PAGE_SIZE = 100;
/** Most member ids one create, add or remove call may carry; bounds the work of one request. */
const MAX_MEMBER_IDS_PER_CALL = 100;

const IdField = Type.String({ minLength: 1, maxLength: 256 });
const MemberIds = Type.Array(IdField, { maxItems: MAX_MEMBER_IDS_PER_CALL });

const GroupParams = Type.Object({ groupId: IdField });
const UserParams = Type.Object({ userId: IdField });

const CreateBody = Type.Object(
  {
    id: IdField,
    // The SDK spreads its own parameters into the body, `groupId` included, next to `id`.
    groupId: Type.Optional(IdField),
    memberIds: Type.Optional(MemberIds),
    organizationId: Type.Optional(IdField),
    scopes: Type.Optional(
      Type.Object({ mention: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);

const MembersBody = Type.Object({ memberIds: MemberIds }, { additionalProperties: false });

const ListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE })),
  startingAfter: Type.Optional(IdField),
  organizationId: Type.Optional(IdField),
});

/**
 * Mention groups of the secret-key API: `/v2/groups[/{groupId}[/add-members|/remove-members]]`
 * and `GET /v2/users/{userId}/groups`. A group's `organizationId` is set on create ("default"
 * when absent) and never changes; lists take it as a filter.
 */
export function registerGroupRoutes(fastify: FastifyInstance, context: AppContext): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const groups = context.store.groups;

  app.post('/v2/groups', { schema: { body: CreateBody } }, async (request) => {
    const body = request.body;
    if (body.groupId !== undefined && body.groupId !== body.id) {
      throw new WeftError(
        'UNPROCESSABLE_ENTITY',
        `id "${body.id}" and groupId "${body.groupId}" name different groups; send one id.`,
      );
    }

    const created = await groups.create({
      id: body.id,
      organizationId: body.organizationId ?? DEFAULT_ORGANIZATION,
      scopes: body.scopes ?? { mention: true },
      memberIds: body.memberIds ?? [],
    });
    return toWire(created);
  });

  app.get('/v2/groups', { schema: { querystring: ListQuery } }, async (request) => {
    const { limit, startingAfter, organizationId } = request.query;
    const page = await groups.list({
      organizationId,
      startingAfter,
      limit: limit ?? DEFAULT_PAGE_SIZE,
    });
    return { nextCursor: page.nextCursor, data: page.groups.map(toWire) };
  });

  app.get('/v2/groups/:groupId', { schema: { params: GroupParams } }, async (request) => {
    const group = await groups.get(request.params.groupId);
    if (!group) throw groupNotFound(request.params.groupId);
    return toWire(group);
  });

  app.post(
    '/v2/groups/:groupId/add-members',
    { schema: { params: GroupParams, body: MembersBody } },
    async (request) => {
      const group = await groups.addMembers(request.params.groupId, request.body.memberIds);
      if (!group) throw groupNotFound(request.params.groupId);
      return toWire(group);
    },
  );

  app.post(
    '/v2/groups/:groupId/remove-members',
    { schema: { params: GroupParams, body: MembersBody } },
    async (request) => {
      const group = await groups.removeMembers(request.params.groupId, request.body.memberIds);
      if (!group) throw groupNotFound(request.params.groupId);
      return toWire(group);
    },
  );

  app.delete('/v2/groups/:groupId', { schema: { params: GroupParams } }, async (request, reply) => {
    if (!(await groups.delete(request.params.groupId))) {
      throw groupNotFound(request.params.groupId);
    }
    return reply.status(204).send();
  });

  app.get(
    '/v2/users/:userId/groups',
    { schema: { params: UserParams, querystring: ListQuery } },
    async (request) => {
      const { limit, startingAfter, organizationId } = request.query;
      const page = await groups.list({
        memberId: request.params.userId,
        organizationId,
        startingAfter,
        limit: limit ?? DEFAULT_PAGE_SIZE,
      });
      return { nextCursor: page.nextCursor, data: page.groups.map(toWire) };
    },
  );
}

function groupNotFound(groupId: string): WeftError {
  return new WeftError('RESOURCE_NOT_FOUND', `No group has the id "${groupId}".`);
}

/** The SDK's `GroupDataPlain`; `tenantId` is its deprecated name for the organization. */
function toWire(group: GroupRecord) {
  return {
    type: 'group' as const,
    id: group.id,
    organizationId: group.organizationId,
    tenantId: group.organizationId,
    createdAt: group.createdAt,
    updatedAt: group.updatedAt,
    scopes: group.scopes,
    members: group.members,
  };
}
