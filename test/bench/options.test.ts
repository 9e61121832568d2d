import { describe, expect, it } from 'vitest';

import { helpText, parseOptions, UsageError } from '../../bench/lib/options.js';

describe('parseOptions', () => {
  it('reads a scenario and its load figures', () => {
    const options = parseOptions(['fanout', '--rooms', '5', '--clients', '3', '--rate', '2.5']);

    expect(options).toMatchObject({
      scenario: 'fanout',
      rooms: 5,
      clients: 3,
      rate: 2.5,
      nodes: 1,
    });
    expect(options.relay).toBe(true);
    expect(options.protocols).toBeUndefined();
  });

  it('takes several URLs as the nodes of a cluster', () => {
    const options = parseOptions([
      'fanout',
      '--url',
      'http://127.0.0.1:1/',
      '--url',
      'http://localhost:2',
    ]);

    expect(options.urls).toEqual(['http://127.0.0.1:1', 'http://localhost:2']);
    expect(options.nodes).toBe(2);
  });

  it.each([
    [['fanout', '--url', 'http://10.0.0.1:8080'], /loopback/],
    [['fanout', '--nodes', '2'], /--redis/],
    [['fanout', '--rooms', '0'], /--rooms/],
    [['fanout', '--protocol', 'tcp'], /--protocol/],
    [['fanout', '--bogus'], /bogus/],
    [['fanout', 'hot-room'], /one scenario/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseOptions(argv)).toThrow(UsageError);
    expect(() => parseOptions(argv)).toThrow(message);
  });

  it('lists every scenario in the help text', () => {
    const text = helpText([{ name: 'fanout', summary: 'many rooms' }]);

    expect(text).toContain('fanout');
    expect(text).toContain('--url');
  });
});
