import type { FastifyInstance } from 'fastify';

import type { AppContext } from './app-context.js';

/** The `/v2/rooms` REST API. */
export function registerRoomRoutes(_app: FastifyInstance, _context: AppContext): void {}
