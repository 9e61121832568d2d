import { LiveblocksYjsClient } from './liveblocks-yjs-client.js';
import type { Protocol, YjsClientOptions, YjsSocketClient } from './yjs-socket-client.js';
import { YwsClient } from './yws-client.js';

/** A lightweight Yjs client of the given protocol (`yjs` = y-websocket, `liveblocks` = /v8). */
export function createYjsClient(protocol: Protocol, options: YjsClientOptions): YjsSocketClient {
  return protocol === 'yjs' ? new YwsClient(options) : new LiveblocksYjsClient(options);
}
