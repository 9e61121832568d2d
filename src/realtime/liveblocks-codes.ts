/**
 * Message codes of the Liveblocks realtime protocol, as `@liveblocks/core` 3.24.2 defines them
 * (`ClientMsgCode`, `ServerMsgCode`). Only the codes Weft handles are named.
 */

/** Client → server. */
export const ClientMsg = {
  UPDATE_PRESENCE: 100,
  BROADCAST_EVENT: 103,
  FETCH_STORAGE: 200,
  UPDATE_STORAGE: 201,
  FETCH_YDOC: 300,
  UPDATE_YDOC: 301,
} as const;

/** Server → client. */
export const ServerMsg = {
  UPDATE_PRESENCE: 100,
  USER_JOINED: 101,
  USER_LEFT: 102,
  BROADCASTED_EVENT: 103,
  ROOM_STATE: 104,
  STORAGE_STATE_V7: 200,
  UPDATE_STORAGE: 201,
  STORAGE_CHUNK: 210,
  STORAGE_STREAM_END: 211,
  REJECT_STORAGE_OP: 299,
  UPDATE_YDOC: 300,
} as const;
