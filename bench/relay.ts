/**
 * The reference relay: the cost floor of a realtime server on this machine. It accepts the same
 * socket paths as Weft (`/y/{roomId}` and `/v7`, `/v8` with `?roomId=`) and forwards every frame
 * of a room, unparsed, to the room's other sockets. No authentication, no document, no log, no
 * acknowledgement: whatever Weft spends above this per delivered update is the price of what it
 * does beyond moving bytes.
 *
 * Run as a child process by the bench: `node --import tsx bench/relay.ts` with PORT (0 = any)
 * and HOST; it prints one JSON line `{"msg":"listening","port":…}` once it listens.
 */
import http from 'node:http';

import { WebSocketServer, type WebSocket } from 'ws';

const rooms = new Map<string, Set<WebSocket>>();

const server = http.createServer((request, response) => {
  response.writeHead(request.url === '/healthz' ? 200 : 404).end();
});
// Same as ws's server default, said explicitly: the relay does not compress.
const sockets = new WebSocketServer({ noServer: true, perMessageDeflate: false });

server.on('upgrade', (request, socket, head) => {
  const room = roomOf(request.url ?? '/');
  if (room === undefined) {
    socket.destroy();
    return;
  }
  sockets.handleUpgrade(request, socket, head, (ws) => join(room, ws));
});

server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`${JSON.stringify({ msg: 'listening', port })}\n`);
});

const stop = () => {
  for (const ws of sockets.clients) ws.terminate();
  server.close(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

function join(room: string, ws: WebSocket) {
  let members = rooms.get(room);
  if (!members) {
    members = new Set();
    rooms.set(room, members);
  }
  members.add(ws);

  ws.on('message', (data, isBinary) => {
    for (const other of members) {
      if (other !== ws && other.readyState === other.OPEN) other.send(data, { binary: isBinary });
    }
  });
  ws.on('close', () => {
    members.delete(ws);
    if (members.size === 0) rooms.delete(room);
  });
  ws.on('error', () => ws.terminate());
}

function roomOf(url: string): string | undefined {
  const parsed = new URL(url, 'http://relay');
  if (parsed.pathname.startsWith('/y/')) return `y:${parsed.pathname.slice(3)}`;
  if (parsed.pathname === '/v7' || parsed.pathname === '/v8') {
    const roomId = parsed.searchParams.get('roomId');
    return roomId === null ? undefined : `lb:${roomId}`;
  }
  return undefined;
}
