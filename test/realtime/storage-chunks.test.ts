import { describe, expect, it } from 'vitest';

import {
  MAX_CHUNK_BYTES,
  MAX_CHUNK_NODES,
  storageChunkFrames,
} from '../../src/realtime/storage-chunks.js';

function parse(frames: Iterable<string>): Array<{ type: number; nodes: unknown[] }> {
  return [...frames].map((frame) => JSON.parse(frame) as { type: number; nodes: unknown[] });
}

describe('storageChunkFrames', () => {
  it('cuts many small nodes into chunks of at most MAX_CHUNK_NODES, in order', () => {
    const nodes = Array.from({ length: 2 * MAX_CHUNK_NODES + 7 }, (_, i) => [`1:${i}`, 3]);

    const chunks = parse(storageChunkFrames(nodes));

    expect(chunks.map((chunk) => chunk.type)).toEqual([210, 210, 210]);
    expect(chunks.map((chunk) => chunk.nodes.length)).toEqual([
      MAX_CHUNK_NODES,
      MAX_CHUNK_NODES,
      7,
    ]);
    expect(chunks.flatMap((chunk) => chunk.nodes)).toEqual(nodes);
  });

  it('keeps each frame within MAX_CHUNK_BYTES of nodes when nodes are large', () => {
    const data = 'x'.repeat(50_000);
    const nodes = Array.from({ length: 12 }, (_, i) => [`1:${i}`, 0, 'root', `k${i}`, { data }]);

    const frames = [...storageChunkFrames(nodes)];

    expect(frames.length).toBeGreaterThan(2);
    for (const frame of frames) expect(Buffer.byteLength(frame)).toBeLessThan(MAX_CHUNK_BYTES + 64);
    expect(parse(frames).flatMap((chunk) => chunk.nodes)).toEqual(nodes);
  });

  it('sends a node larger than the byte bound alone', () => {
    const big = ['1:0', 0, 'root', 'big', { data: 'y'.repeat(MAX_CHUNK_BYTES + 10) }];

    const chunks = parse(storageChunkFrames([['root', {}], big, ['1:1', 1, 'root', 'l']]));

    expect(chunks.map((chunk) => chunk.nodes.length)).toEqual([1, 1, 1]);
    expect(chunks[1]!.nodes[0]).toEqual(big);
  });

  it('gives no frame for no nodes', () => {
    expect([...storageChunkFrames([])]).toEqual([]);
  });
});
