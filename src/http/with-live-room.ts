import { WeftError } from '../errors.js';
import type { Room } from '../rooms/room.js';
import type { AppContext } from './app-context.js';

/**
 * Runs `work` on the room loaded in memory (loading it when no connection holds it), keeping it
 * pinned for the call so that an idle unload cannot drop it halfway. Throws ROOM_NOT_FOUND
 * when no room has this id.
 */
export async function withLiveRoom<T>(
  context: AppContext,
  roomId: string,
  work: (room: Room) => Promise<T> | T,
): Promise<T> {
  const registry = context.liveRooms;
  if (!registry) throw new WeftError('INTERNAL_ERROR', 'The realtime side is not running.');
  const record = await context.store.rooms.get(roomId);
  if (!record) throw new WeftError('ROOM_NOT_FOUND', `Room "${roomId}" does not exist.`);

  const room = await registry.acquire(record);
  try {
    return await work(room);
  } finally {
    room.unpin();
  }
}
