import { Readable } from 'node:stream';

import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';

import { WeftError } from '../errors.js';
import type { Room } from '../rooms/room.js';
import type { StorageItem } from '../rooms/room-storage.js';
import { checkStorageOps } from '../rooms/tree-room-storage.js';
import { ClientMsg } from '../realtime/liveblocks-codes.js';
import type { AppContext } from './app-context.js';
import { withLiveRoom } from './with-live-room.js';

const RoomParams = Type.Object({ roomId: Type.String() });

/** The media type `@liveblocks/node` requires, compared as is (no charset). */
const NDJSON_TYPE = 'application/x-ndjson';

/**
 * Lines of the stream gathered into one chunk up to this size, in UTF-16 code units: fewer
 * writes than one per node, without holding a big tree's text at once.
 * @default 65536
 */
const CHUNK_CHARS = 64 * 1024;

/**
 * `mutateStorage` and `massMutateStorage` of `@liveblocks/node` 3.24.2. The SDK first asks for
 * a session (`request-storage-mutation`): a fresh actor and the room's Storage as v7 items, in
 * NDJSON. It builds the tree locally, runs the caller's callback on it, and sends the ops it
 * made in debounced `send-message` batches of UPDATE_STORAGE messages. Those go through the
 * room log like a connection's, so connected clients receive them live.
 */
export function registerStorageMutationRoutes(fastify: FastifyInstance, context: AppContext): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  const withRoom = <T>(roomId: string, work: (room: Room) => Promise<T> | T) =>
    withLiveRoom(context, roomId, work);

  app.post(
    '/v2/rooms/:roomId/request-storage-mutation',
    { schema: { params: RoomParams } },
    async (request, reply) => {
      const session = await withRoom(request.params.roomId, async (room) => {
        // Never reused: the SDK names the nodes it creates `<actor>:<n>`, so a shared actor
        // would let two sessions (or a connection) create nodes with one id.
        const actor = await room.allocateActor();
        return { actor, items: room.storage.items() };
      });
      return reply
        .status(200)
        .header('content-type', NDJSON_TYPE)
        .send(Readable.from(ndjsonChunks(session.actor, session.items)));
    },
  );

  app.post(
    '/v2/rooms/:roomId/send-message',
    { schema: { params: RoomParams } },
    async (request, reply) => {
      const batches = storageOpBatches(request.body);
      await withRoom(request.params.roomId, async (room) => {
        if (batches.length === 0) return;
        // The SDK sends no actor here. The ops' node ids and opIds already carry the session's
        // actor; applying them as a fresh actor that no connection holds means no connection
        // takes their acknowledgements for its own, and every connection gets them as remote.
        const origin = await room.allocateActor();
        let seq = 0;
        for (const ops of batches) seq = await room.submitStorageOps(origin, ops);
        // So that a read right after the answer, on this node, sees the ops.
        await room.waitApplied(seq);
      });
      return reply.status(200).send({});
    },
  );
}

/** The stream's text: `{"actor":n}`, then one v7 item per line, root first. */
function* ndjsonChunks(actor: number, items: readonly StorageItem[]): Generator<string> {
  let chunk = `${JSON.stringify({ actor })}\n`;
  for (const item of items) {
    chunk += `${JSON.stringify(item)}\n`;
    if (chunk.length >= CHUNK_CHARS) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk.length > 0) yield chunk;
}

/**
 * The ops of each UPDATE_STORAGE of a `send-message` body, in order, or UNPROCESSABLE_ENTITY
 * naming what is wrong: not `{ messages: [...] }`, a message of another type (only Storage
 * writes make sense without a connection), or malformed ops.
 */
function storageOpBatches(body: unknown): unknown[][] {
  const messages =
    typeof body === 'object' && body !== null && !Array.isArray(body)
      ? (body as { messages?: unknown }).messages
      : undefined;
  if (!Array.isArray(messages)) {
    throw new WeftError(
      'UNPROCESSABLE_ENTITY',
      'Send { "messages": [...] }, an array of messages.',
    );
  }

  const refused = new Set<string>();
  for (const message of messages) {
    const type =
      typeof message === 'object' && message !== null ? (message as { type?: unknown }).type : null;
    if (type !== ClientMsg.UPDATE_STORAGE) refused.add(JSON.stringify(type ?? null));
  }
  if (refused.size > 0) {
    throw new WeftError(
      'UNPROCESSABLE_ENTITY',
      `Only UPDATE_STORAGE (${ClientMsg.UPDATE_STORAGE}) messages are accepted; refused types: ${[...refused].join(', ')}.`,
    );
  }

  const batches: unknown[][] = [];
  for (const [index, message] of (messages as { ops?: unknown }[]).entries()) {
    const problem = checkStorageOps(message.ops);
    if (problem !== null) {
      throw new WeftError('UNPROCESSABLE_ENTITY', `Message ${index} has invalid ops: ${problem}.`);
    }
    const ops = message.ops as unknown[];
    if (ops.length > 0) batches.push(ops);
  }
  return batches;
}
