/**
 * The v8 storage stream cut into STORAGE_CHUNK frames of bounded size, so that a large tree
 * never leaves as one giant frame: a frame that big would stall every other message of the
 * socket behind it, and could pass the client's or a proxy's frame limit.
 */
import { ServerMsg } from './liveblocks-codes.js';

/** Most nodes in one STORAGE_CHUNK frame. */
export const MAX_CHUNK_NODES = 1_000;

/** Most bytes of JSON nodes in one STORAGE_CHUNK frame; a single larger node goes alone. */
export const MAX_CHUNK_BYTES = 256 * 1024;

const FRAME_START = `{"type":${ServerMsg.STORAGE_CHUNK},"nodes":[`;
const FRAME_END = ']}';

/**
 * The text frames of one STORAGE_CHUNK message each, holding the nodes in their order: at most
 * {@link MAX_CHUNK_NODES} nodes and {@link MAX_CHUNK_BYTES} bytes of nodes per frame. Nodes are
 * serialised as the frames are taken, so a caller may send each before the next is built.
 */
export function* storageChunkFrames(nodes: Iterable<unknown>): Generator<string> {
  let parts: string[] = [];
  let bytes = 0;
  for (const node of nodes) {
    const json = JSON.stringify(node);
    const size = Buffer.byteLength(json) + 1;
    if (parts.length > 0 && (parts.length >= MAX_CHUNK_NODES || bytes + size > MAX_CHUNK_BYTES)) {
      yield FRAME_START + parts.join(',') + FRAME_END;
      parts = [];
      bytes = 0;
    }
    parts.push(json);
    bytes += size;
  }
  if (parts.length > 0) yield FRAME_START + parts.join(',') + FRAME_END;
}
