import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';

import { MAX_PATTERNS_PER_TOKEN, isValidRoomPattern, validateScopes } from '../auth/permissions.js';
import { DEFAULT_ORGANIZATION } from '../auth/token-service.js';
import { WeftError } from '../errors.js';
import type { AppContext } from './app-context.js';

const UserIdField = Type.String({ minLength: 1, maxLength: 256 });
const OrganizationIdField = Type.String({ minLength: 1, maxLength: 256 });

const IdentifyBody = Type.Object({
  userId: UserIdField,
  groupIds: Type.Optional(
    Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: 100 }),
  ),
  organizationId: Type.Optional(OrganizationIdField),
  tenantId: Type.Optional(OrganizationIdField),
  userInfo: Type.Optional(Type.Unknown()),
});

const AuthorizeBody = Type.Object({
  userId: UserIdField,
  permissions: Type.Record(Type.String(), Type.Array(Type.String())),
  organizationId: Type.Optional(OrganizationIdField),
  tenantId: Type.Optional(OrganizationIdField),
  userInfo: Type.Optional(Type.Unknown()),
});

/** `POST /v2/identify-user` (ID tokens) and `POST /v2/authorize-user` (access tokens). */
export function registerAuthRoutes(fastify: FastifyInstance, context: AppContext): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.post('/v2/identify-user', { schema: { body: IdentifyBody } }, async (request) => {
    const body = request.body;
    const token = await context.tokens.mintIdToken({
      userId: body.userId,
      groupIds: body.groupIds ?? [],
      userInfo: body.userInfo,
      organizationId: organizationOf(body),
    });
    return { token };
  });

  app.post('/v2/authorize-user', { schema: { body: AuthorizeBody } }, async (request) => {
    const body = request.body;
    validatePermissions(body.permissions);

    const token = await context.tokens.mintAccessToken({
      userId: body.userId,
      permissions: body.permissions,
      userInfo: body.userInfo,
      organizationId: organizationOf(body),
    });
    return { token };
  });
}

/** `tenantId` is the SDK's deprecated spelling; both naming different ids is a contradiction. */
function organizationOf(body: { organizationId?: string; tenantId?: string }): string {
  if (
    body.organizationId !== undefined &&
    body.tenantId !== undefined &&
    body.organizationId !== body.tenantId
  ) {
    throw new WeftError(
      'UNPROCESSABLE_ENTITY',
      'organizationId and tenantId name different organizations; send only organizationId.',
    );
  }
  return body.organizationId ?? body.tenantId ?? DEFAULT_ORGANIZATION;
}

function validatePermissions(permissions: Record<string, string[]>) {
  const patterns = Object.keys(permissions);
  if (patterns.length > MAX_PATTERNS_PER_TOKEN) {
    throw new WeftError(
      'UNPROCESSABLE_ENTITY',
      `A token may hold at most ${MAX_PATTERNS_PER_TOKEN} room patterns, got ${patterns.length}.`,
    );
  }
  for (const pattern of patterns) {
    if (!isValidRoomPattern(pattern)) {
      throw new WeftError(
        'UNPROCESSABLE_ENTITY',
        `Invalid room pattern ${JSON.stringify(pattern)}: use 1–128 characters with at most one "*", at the end.`,
      );
    }
    const scopes = permissions[pattern]!;
    if (scopes.length === 0) {
      throw new WeftError(
        'UNPROCESSABLE_ENTITY',
        `The permission list of ${JSON.stringify(pattern)} is empty.`,
      );
    }
    const problem = validateScopes(scopes, false);
    if (problem) {
      throw new WeftError(
        'UNPROCESSABLE_ENTITY',
        `Pattern ${JSON.stringify(pattern)}: ${problem}.`,
      );
    }
  }
}
