import { describe, expect, it, vi } from 'vitest';

import { sharedFrame } from '../../src/realtime/event-frames.js';

describe('sharedFrame', () => {
  it('builds a frame once per event and name, and hands every caller the same one', () => {
    const event = { type: 'yjs-update' };
    const build = vi.fn(() => new Uint8Array([1, 2, 3]));

    const first = sharedFrame(event, 'yws', build);
    const second = sharedFrame(event, 'yws', build);

    expect(second).toBe(first);
    expect(build).toHaveBeenCalledTimes(1);
  });

  it('builds again for another name or another event', () => {
    const event = { type: 'yjs-update' };
    const other = { type: 'yjs-update' };

    expect(sharedFrame(event, 'v8:1', () => 'one')).toBe('one');
    expect(sharedFrame(event, 'v8:2', () => 'two')).toBe('two');
    expect(sharedFrame(other, 'v8:1', () => 'three')).toBe('three');
    expect(sharedFrame(event, 'v8:1', () => 'never')).toBe('one');
  });
});
