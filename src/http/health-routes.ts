import type { FastifyInstance } from 'fastify';

import type { AppContext } from './app-context.js';

/** `/healthz` (process up), `/readyz` (dependencies reachable, not draining), `/metrics`, the JWKS. */
export function registerHealthRoutes(app: FastifyInstance, context: AppContext): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const database = await context.store.ping();
    const draining = context.isDraining();
    const ready = database && !draining;
    return reply
      .status(ready ? 200 : 503)
      .send({ status: ready ? 'ready' : 'unavailable', database, draining });
  });

  app.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await context.metrics.render();
    return reply.type(contentType).send(body);
  });

  app.get('/.well-known/jwks.json', async () => context.tokens.jwks());
}
