import type { FastifyInstance } from 'fastify';

import type { AppContext } from './app-context.js';

/**
 * `/healthz` (process up), `/readyz` (dependencies reachable, not draining), `/metrics` and the
 * JWKS.
 */
export function registerHealthRoutes(app: FastifyInstance, context: AppContext): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const [database, bus] = await Promise.all([
      context.store.ping(),
      context.bus ? context.bus.ready() : true,
    ]);
    const draining = context.isDraining();
    const ready = database && bus && !draining;
    // A cluster node without Redis can neither load rooms nor acknowledge writes.
    const redis = context.config.redisUrl === undefined ? {} : { redis: bus };
    return reply
      .status(ready ? 200 : 503)
      .send({ status: ready ? 'ready' : 'unavailable', database, ...redis, draining });
  });

  app.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await context.metrics.render();
    return reply.type(contentType).send(body);
  });

  app.get('/.well-known/jwks.json', async () => context.tokens.jwks());
}
