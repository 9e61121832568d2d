import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';

import { DEFAULT_ORGANIZATION } from '../auth/token-service.js';
import { WeftError } from '../errors.js';
import {
  MAX_NOTIFICATION_KINDS_PER_CHANNEL,
  MAX_NOTIFICATION_KIND_LENGTH,
  NOTIFICATION_CHANNELS,
  isNotificationKind,
  type NotificationSettingsOwner,
  type NotificationSettingsPatch,
} from '../store/notification-settings-repository.js';
import type { AppContext } from './app-context.js';

const IdField = Type.String({ minLength: 1, maxLength: 256 });

const UserParams = Type.Object({ userId: IdField });
const OrganizationQuery = Type.Object({ organizationId: Type.Optional(IdField) });

const ChannelPatch = Type.Record(Type.String(), Type.Boolean(), {
  maxProperties: MAX_NOTIFICATION_KINDS_PER_CHANNEL,
});
const SettingsPatch = Type.Object(
  Object.fromEntries(
    NOTIFICATION_CHANNELS.map((channel) => [channel, Type.Optional(ChannelPatch)]),
  ),
  { additionalProperties: false },
);

/**
 * User notification settings of the secret-key API: `GET`, `POST` (partial update) and `DELETE`
 * `/v2/users/{userId}/notification-settings`, as `@liveblocks/node` 3.24.2 calls them. Every
 * channel (`email`, `slack`, `teams`, `webPush`) is always present, each with `thread` and
 * `textMention` (true until turned off) and the custom `$kinds` the user set.
 *
 * Settings belong to (organization, user), as inbox notifications do. The SDK sends no
 * organization on these calls, so they act in `"default"`; a back end serving organizations
 * adds `?organizationId=…` to act in another one.
 */
export function registerNotificationSettingsRoutes(
  fastify: FastifyInstance,
  context: AppContext,
): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const settings = context.store.notificationSettings;
  const path = '/v2/users/:userId/notification-settings';
  const schema = { params: UserParams, querystring: OrganizationQuery };

  const ownerOf = (request: {
    params: { userId: string };
    query: { organizationId?: string };
  }): NotificationSettingsOwner => ({
    organizationId: request.query.organizationId ?? DEFAULT_ORGANIZATION,
    userId: request.params.userId,
  });

  app.get(path, { schema }, async (request) => settings.get(ownerOf(request)));

  app.post(path, { schema: { ...schema, body: SettingsPatch } }, async (request) => {
    const patch = request.body as NotificationSettingsPatch;
    checkKinds(patch);
    return settings.update(ownerOf(request), patch);
  });

  app.delete(path, { schema }, async (request, reply) => {
    await settings.delete(ownerOf(request));
    return reply.status(204).send();
  });
}

/** Refuses kinds other than the built-in ones and `$`-prefixed custom ones. */
function checkKinds(patch: NotificationSettingsPatch): void {
  for (const [channel, kinds] of Object.entries(patch)) {
    for (const kind of Object.keys(kinds ?? {})) {
      if (isNotificationKind(kind)) continue;
      throw new WeftError(
        'UNPROCESSABLE_ENTITY',
        `Unknown notification kind ${JSON.stringify(kind)} on the ${channel} channel: use "thread", "textMention" or a custom kind of "$" and 1–${MAX_NOTIFICATION_KIND_LENGTH - 1} characters.`,
      );
    }
  }
}
