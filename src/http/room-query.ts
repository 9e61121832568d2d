import { WeftError } from '../errors.js';
import type { RoomRecord } from '../store/room-repository.js';

/** Longest `query` string accepted by `GET /v2/rooms`. */
export const MAX_ROOM_QUERY_LENGTH = 2_000;

/** One condition of a room query. */
export interface RoomCondition {
  /** `roomId` or `metadata`. */
  field: 'roomId' | 'metadata';
  /** The metadata key; absent for `roomId`. */
  key?: string;
  /** `:` is equality, `^` is "starts with". */
  operator: 'equals' | 'startsWith';
  value: string;
}

/**
 * The Liveblocks room query language, the subset rooms support:
 *
 * ```
 * roomId^"prefix"            room id starts with
 * roomId:"exact-id"          room id equals
 * metadata["key"]:"value"    string metadata equals (list values never match, as documented)
 * metadata["key"]^"prefix"   string metadata starts with
 * ```
 *
 * Conditions combine with `AND`, which may be left out (`@liveblocks/node` joins the object form
 * with spaces). Strings take double or single quotes with JSON escapes, the form `objectToQuery`
 * writes. `OR`, `NOT`, parentheses, numbers, booleans, `null` and the number operators are
 * refused: room metadata holds strings only.
 */
export function parseRoomQuery(text: string): RoomCondition[] {
  return new QueryParser(text).parse();
}

/** True when the room satisfies every condition. */
export function roomMatches(room: RoomRecord, conditions: readonly RoomCondition[]): boolean {
  return conditions.every((condition) => {
    const subject = condition.field === 'roomId' ? room.id : room.metadata[condition.key!];
    if (typeof subject !== 'string') return false;
    return condition.operator === 'equals'
      ? subject === condition.value
      : subject.startsWith(condition.value);
  });
}

const IDENTIFIER = /[A-Za-z_][A-Za-z0-9_]*/y;
const NUMBER = /-?\d+(\.\d+)?([eE][+-]?\d+)?/y;
const WHITESPACE = /\s*/y;
const ESCAPES: Record<string, string> = {
  '"': '"',
  "'": "'",
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

class QueryParser {
  private position = 0;

  constructor(private readonly text: string) {}

  parse(): RoomCondition[] {
    const conditions: RoomCondition[] = [];
    this.skipWhitespace();
    while (!this.atEnd()) {
      if (conditions.length > 0) this.skipAnd();
      conditions.push(this.condition());
      this.skipWhitespace();
    }
    return conditions;
  }

  private condition(): RoomCondition {
    const start = this.position;
    if (this.text[start] === '(' || this.text[start] === ')') {
      throw this.error(
        start,
        'parentheses are not supported: room conditions combine with AND only',
      );
    }
    const name = this.identifier();
    if (name === undefined) {
      throw this.error(
        start,
        'expected a condition such as roomId^"prefix" or metadata["key"]:"value"',
      );
    }
    checkConnective(name, start, this);

    if (name === 'roomId') {
      const operator = this.operator();
      return { field: 'roomId', operator, value: this.stringValue() };
    }
    if (name === 'metadata') {
      this.skipWhitespace();
      this.expect('[', 'expected [ after metadata, as in metadata["key"]');
      this.skipWhitespace();
      const key = this.quoted('a quoted metadata key');
      this.skipWhitespace();
      this.expect(']', 'expected ] after the metadata key');
      const operator = this.operator();
      return { field: 'metadata', key, operator, value: this.stringValue() };
    }
    throw this.error(start, `unknown field "${name}": rooms filter on roomId and metadata["key"]`);
  }

  private skipAnd() {
    const start = this.position;
    const word = this.identifier();
    if (word === undefined) {
      this.position = start;
      return;
    }
    if (word.toUpperCase() === 'AND') {
      this.requireWhitespaceAfter('AND');
      this.skipWhitespace();
      return;
    }
    checkConnective(word, start, this);
    // A field name: the AND was left out, which the language allows.
    this.position = start;
  }

  private operator(): RoomCondition['operator'] {
    this.skipWhitespace();
    const start = this.position;
    const char = this.text[this.position];
    if (char === ':' || char === '^') {
      this.position += 1;
      this.skipWhitespace();
      return char === ':' ? 'equals' : 'startsWith';
    }
    if (char === '<' || char === '>') {
      throw this.error(
        start,
        `operator ${char} is not supported: room metadata holds strings, use : or ^`,
      );
    }
    throw this.error(start, 'expected : (equals) or ^ (starts with)');
  }

  private stringValue(): string {
    const start = this.position;
    const char = this.text[this.position];
    if (char === '"' || char === "'") return this.quoted('a quoted value');

    NUMBER.lastIndex = start;
    const word =
      this.identifier() ??
      (NUMBER.test(this.text) ? this.text.slice(start, NUMBER.lastIndex) : undefined);
    if (word !== undefined) {
      throw this.error(start, `${word} is not a quoted string: room filters compare strings only`);
    }
    throw this.error(start, 'expected a quoted value');
  }

  private quoted(what: string): string {
    const start = this.position;
    const quote = this.text[this.position];
    if (quote !== '"' && quote !== "'") throw this.error(start, `expected ${what}`);

    let result = '';
    let index = start + 1;
    while (index < this.text.length) {
      const char = this.text[index]!;
      if (char === quote) {
        this.position = index + 1;
        return result;
      }
      if (char !== '\\') {
        result += char;
        index += 1;
        continue;
      }

      const escape = this.text[index + 1];
      if (escape === 'u') {
        const hex = this.text.slice(index + 2, index + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw this.error(index, 'invalid \\u escape');
        result += String.fromCharCode(parseInt(hex, 16));
        index += 6;
        continue;
      }
      const replacement = escape === undefined ? undefined : ESCAPES[escape];
      if (replacement === undefined) throw this.error(index, 'invalid escape in a string');
      result += replacement;
      index += 2;
    }
    throw this.error(start, 'unterminated string');
  }

  private identifier(): string | undefined {
    IDENTIFIER.lastIndex = this.position;
    const match = IDENTIFIER.exec(this.text);
    if (!match) return undefined;
    this.position = IDENTIFIER.lastIndex;
    return match[0];
  }

  private expect(char: string, message: string) {
    if (this.text[this.position] !== char) throw this.error(this.position, message);
    this.position += 1;
  }

  private requireWhitespaceAfter(word: string) {
    if (!/\s/.test(this.text[this.position] ?? '')) {
      throw this.error(this.position, `expected a condition after ${word}`);
    }
  }

  private skipWhitespace() {
    WHITESPACE.lastIndex = this.position;
    WHITESPACE.exec(this.text);
    this.position = WHITESPACE.lastIndex;
  }

  private atEnd() {
    return this.position >= this.text.length;
  }

  /** A 422 naming the 1-based character where the problem is. */
  error(at: number, problem: string): WeftError {
    return new WeftError(
      'UNPROCESSABLE_ENTITY',
      `Invalid query at character ${at + 1}: ${problem}.`,
    );
  }
}

function checkConnective(word: string, at: number, parser: QueryParser) {
  const upper = word.toUpperCase();
  if (upper === 'OR' || upper === 'NOT') {
    throw parser.error(at, `${upper} is not supported: room conditions combine with AND only`);
  }
  if (upper === 'AND') throw parser.error(at, 'AND must stand between two conditions');
}
