import { describe, expect, it, vi } from 'vitest';

import { startNode } from '../support/start-node.js';
import { createRoom, enter, sdk, uniqueRoomId, waitForStatus } from '../support/live-session.js';

describe('the real @liveblocks/client on /v8', () => {
  it('reaches "connected" and knows its own actor and user', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);

    const { room } = enter(node, roomId, 'alice');
    await waitForStatus(room, 'connected');
    // "connected" comes as ROOM_STATE arrives; the client reads it on the next tick.
    await vi.waitFor(() => expect(room.getSelf()).not.toBeNull());

    const self = room.getSelf();
    expect(self?.id).toBe('alice');
    expect(self?.info).toEqual({ name: 'alice' });
    expect(self?.connectionId).toBeGreaterThan(0);
    expect(self?.canWrite).toBe(true);
  });

  it('shows others with their presence, and their join and leave', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const alice = enter(node, roomId, 'alice', { initialPresence: { cursor: null } });
    await waitForStatus(alice.room, 'connected');
    const events: string[] = [];
    alice.room.subscribe('others', (_others, event) => events.push(`${event.type}`));

    const bob = enter(node, roomId, 'bob', { initialPresence: { cursor: { x: 1, y: 2 } } });
    await waitForStatus(bob.room, 'connected');
    await vi.waitFor(() =>
      expect(alice.room.getOthers().map((other) => [other.id, other.presence])).toEqual([
        ['bob', { cursor: { x: 1, y: 2 } }],
      ]),
    );
    await vi.waitFor(() =>
      expect(bob.room.getOthers().map((other) => [other.id, other.presence])).toEqual([
        ['alice', { cursor: null }],
      ]),
    );

    bob.room.updatePresence({ cursor: { x: 5, y: 6 } });
    await vi.waitFor(() =>
      expect(alice.room.getOthers()[0]?.presence).toEqual({ cursor: { x: 5, y: 6 } }),
    );

    bob.room.disconnect();
    await vi.waitFor(() => expect(alice.room.getOthers()).toEqual([]));
    expect(events).toContain('enter');
    expect(events).toContain('leave');
  });

  it('delivers broadcast events to the others, not to the sender', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const alice = enter(node, roomId, 'alice');
    const bob = enter(node, roomId, 'bob');
    await waitForStatus(alice.room, 'connected');
    await waitForStatus(bob.room, 'connected');
    await vi.waitFor(() => expect(alice.room.getOthers()).toHaveLength(1));
    const received: Array<{ from: number; event: unknown }> = [];
    const sent: unknown[] = [];
    bob.room.subscribe('event', ({ connectionId, event }) =>
      received.push({ from: connectionId, event }),
    );
    alice.room.subscribe('event', ({ event }) => sent.push(event));

    alice.room.broadcastEvent({ emoji: '🎉' } as never);

    await vi.waitFor(() => expect(received).toHaveLength(1));
    expect(received[0]).toEqual({
      from: alice.room.getSelf()!.connectionId,
      event: { emoji: '🎉' },
    });
    expect(sent).toEqual([]);
  });

  it('is counted in /metrics: connection, room loaded, messages, frames, log appends', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const { room } = enter(node, roomId, 'alice');
    await waitForStatus(room, 'connected');
    await sdk(node).sendYjsBinaryUpdate(roomId, new Uint8Array([0, 0]));

    const metrics = await (await fetch(`${node.url}/metrics`)).text();

    expect(metrics).toMatch(
      /weft_connections\{protocol="liveblocks",org="default",node="[^"]+"\} 1/,
    );
    expect(metrics).toMatch(/weft_rooms_loaded\{org="default",node="[^"]+"\} 1/);
    expect(metrics).toMatch(/weft_messages_received_total\{protocol="liveblocks",kind="presence"/);
    expect(metrics).toMatch(/weft_frames_sent_total\{protocol="liveblocks",node="[^"]+"\} [1-9]/);
    expect(metrics).toMatch(/weft_log_entries_total\{kind="yjs",node="[^"]+"\} 1/);
  });

  it('loads an empty storage root so that getStorage() resolves', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const { room } = enter(node, roomId, 'alice');

    const { root } = await room.getStorage();

    expect(root.toJSON()).toEqual({});
  });
});
