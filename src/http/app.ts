import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
} from 'fastify';

import { checkSecretKey } from '../auth/secret-key.js';
import { ERRORS, WeftError, isWeftError } from '../errors.js';
import type { AppContext } from './app-context.js';
import { registerAuthRoutes } from './auth-routes.js';
import { registerGroupRoutes } from './group-routes.js';
import { registerHealthRoutes } from './health-routes.js';
import { registerLiveRoomRoutes } from './live-room-routes.js';
import { registerNotificationRoutes } from './notification-routes.js';
import { registerNotificationSettingsRoutes } from './notification-settings-routes.js';
import { registerRoomRoutes } from './room-routes.js';
import { registerStorageMutationRoutes } from './storage-mutation-routes.js';
import { registerStorageRoutes } from './storage-routes.js';
import { registerSubscriptionSettingsRoutes } from './subscription-settings-routes.js';
import { compileValidator } from './validator-compiler.js';

/** Prefixes of routes that authenticate with something other than the secret key. */
const PUBLIC_PREFIXES = ['/healthz', '/readyz', '/metrics', '/.well-known/', '/v2/c/'];

/**
 * Builds the Fastify app of a node: error mapping, secret-key authentication of `/v2`, and
 * every REST route. It does not listen; server.ts does.
 */
export function buildHttpApp(context: AppContext): FastifyInstance {
  const app = Fastify({
    loggerInstance: context.logger.child({ component: 'http' }) as FastifyBaseLogger,
    bodyLimit: context.config.limits.maxMessageBytes,
    // Request ids in logs let an operator follow one call.
    genReqId: () => crypto.randomUUID(),
    // Per-request lines go out at debug from the onResponse hook below, not at info.
    logController: new LogController({ disableRequestLogging: true }),
    // Room ids reach 128 characters, up to 12 bytes each once percent-encoded.
    routerOptions: { maxParamLength: 2048 },
  });
  app.setValidatorCompiler(compileValidator);

  registerBodyParsers(app);

  app.addHook('onRequest', async (request) => {
    const url = request.url;
    if (!url.startsWith('/v2/') || PUBLIC_PREFIXES.some((prefix) => url.startsWith(prefix))) {
      return;
    }
    checkSecretKey(request.headers.authorization, context.secretKey);
  });

  app.addHook('onResponse', async (request, reply) => {
    context.metrics.httpRequests.inc({
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status: reply.statusCode,
    });
    request.log.debug(
      { method: request.method, path: request.routeOptions.url, status: reply.statusCode },
      'request done',
    );
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const weft = toWeftError(error);
    if (weft.status >= 500) {
      request.log.error({ err: error }, 'request failed');
    } else {
      request.log.info({ code: weft.code, status: weft.status }, 'request refused');
    }
    void reply.status(weft.status).send(weft.toJSON());
  });

  app.setNotFoundHandler((request, reply) => {
    const error = new WeftError(
      'NOT_FOUND',
      `No route for ${request.method} ${request.url.split('?')[0]}.`,
    );
    void reply.status(error.status).send(error.toJSON());
  });

  registerHealthRoutes(app, context);
  registerAuthRoutes(app, context);
  registerRoomRoutes(app, context);
  registerLiveRoomRoutes(app, context);
  registerStorageRoutes(app, context);
  registerStorageMutationRoutes(app, context);
  registerNotificationRoutes(app, context);
  registerNotificationSettingsRoutes(app, context);
  registerSubscriptionSettingsRoutes(app, context);
  registerGroupRoutes(app, context);
  return app;
}

/** Maps Fastify's own errors (parsing, validation, limits) onto the catalogue. */
export function toWeftError(error: FastifyError | Error): WeftError {
  if (isWeftError(error)) return error;

  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    const context = fastifyError.validationContext ?? 'request';
    return new WeftError('UNPROCESSABLE_ENTITY', `Invalid ${context}: ${error.message}`);
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new WeftError('PAYLOAD_TOO_LARGE');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new WeftError('UNSUPPORTED_MEDIA_TYPE');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new WeftError('INVALID_JSON', 'The body is empty; send a JSON object.');
  }
  if (fastifyError.statusCode !== undefined && fastifyError.statusCode < 500) {
    return new WeftError(
      fastifyError.statusCode === 404 ? 'NOT_FOUND' : 'UNPROCESSABLE_ENTITY',
      error.message,
    );
  }
  return new WeftError('INTERNAL_ERROR', ERRORS.INTERNAL_ERROR.message, { cause: error });
}

function registerBodyParsers(app: FastifyInstance) {
  // The SDK posts `Content-Type: application/json` with no body for several calls (mark as
  // read, …): an empty body means "no fields", not malformed JSON.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new WeftError('INVALID_JSON'), undefined);
    }
  });
  app.addContentTypeParser(
    'application/octet-stream',
    { parseAs: 'buffer' },
    (_request, body, done) => done(null, body),
  );
}
