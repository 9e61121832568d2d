/**
 * LiveList positions: fractional indices written as strings over the printable ASCII range.
 *
 * A position reads as a base-95 fraction 0.d₁d₂d₃… where each character is one digit (space is
 * 0, `~` is 94). Lists sort their items by comparing positions as JavaScript strings, which is
 * the order `@liveblocks/client` uses, and the fraction order agrees with it because every digit
 * is one UTF-16 unit. A valid position is non-empty and does not end in the zero digit (so two
 * spellings never denote the same fraction).
 */

const ZERO_CODE = 32;
const TOP_CODE = 126;
const BASE = TOP_CODE - ZERO_CODE + 1;
const TOP_DIGIT = BASE - 1;

/** The position of the first item of a list built from scratch (the digit 1: `"!"`). */
export const FIRST_POSITION = String.fromCharCode(ZERO_CODE + 1);

// The client widens its increment window in steps so that positions grow slowly when items are
// appended one after another; using the same window keeps a pushed item's server position equal
// to the one the client predicts while its push is unacknowledged.
const FIRST_WINDOW = 2;
const WINDOW_STEP = 3;

/** Whether `text` is a well-formed position. */
export function isPosition(text: string): boolean {
  if (text.length === 0) {
    return false;
  }

  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < ZERO_CODE || code > TOP_CODE) {
      return false;
    }
  }

  return text.charCodeAt(text.length - 1) !== ZERO_CODE;
}

/**
 * The well-formed position nearest to `text`: characters outside the range are clamped to its
 * ends, trailing zero digits are dropped, and an empty result becomes {@link FIRST_POSITION}.
 * This is how clients read a malformed key, so the server stores what they display.
 */
export function toPosition(text: string): string {
  if (isPosition(text)) {
    return text;
  }

  const codes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    codes.push(Math.min(TOP_CODE, Math.max(ZERO_CODE, text.charCodeAt(i))));
  }
  while (codes.length > 0 && codes[codes.length - 1] === ZERO_CODE) {
    codes.pop();
  }

  return codes.length === 0 ? FIRST_POSITION : String.fromCharCode(...codes);
}

/** A position greater than `position`, kept short. `position` must be well-formed. */
export function positionAfter(position: string): string {
  const digits = toDigits(position);

  let window = FIRST_WINDOW;
  if (digits.length > FIRST_WINDOW) {
    window += Math.ceil((digits.length - FIRST_WINDOW) / WINDOW_STEP) * WINDOW_STEP;
  }
  // Incrementing the last digit of a window full of top digits would carry out of the fraction;
  // a wider window always has room because its new digits are zeros.
  if (digits.slice(0, window).every((digit) => digit === TOP_DIGIT) && digits.length >= window) {
    window += WINDOW_STEP;
  }

  const incremented = digits.slice(0, window);
  while (incremented.length < window) {
    incremented.push(0);
  }
  for (let i = window - 1; i >= 0; i--) {
    if (incremented[i] === TOP_DIGIT) {
      incremented[i] = 0;
      continue;
    }
    incremented[i] = (incremented[i] ?? 0) + 1;
    break;
  }

  return fromDigits(incremented);
}

/**
 * A position strictly between `low` and `high` (`low < high`, both well-formed), as short as
 * the two allow.
 */
export function positionBetween(low: string, high: string): string {
  const lowDigits = toDigits(low);
  const highDigits = toDigits(high);
  const result: number[] = [];

  let i = 0;
  for (;;) {
    const lowDigit = lowDigits[i] ?? 0;
    const highDigit = highDigits[i] ?? 0;
    if (lowDigit === highDigit) {
      result.push(lowDigit);
      i++;
      continue;
    }
    if (highDigit - lowDigit >= 2) {
      result.push((lowDigit + highDigit) >> 1);
      return fromDigits(result);
    }
    // Adjacent digits: keep low's digit here, then anything above the rest of low fits below
    // high, since high is already greater at this digit.
    result.push(lowDigit);
    i++;
    break;
  }

  for (;;) {
    const lowDigit = lowDigits[i] ?? 0;
    if (lowDigit < TOP_DIGIT) {
      result.push((lowDigit + BASE) >> 1);
      return fromDigits(result);
    }
    result.push(lowDigit);
    i++;
  }
}

/** The digits of a position, most significant first. */
function toDigits(position: string): number[] {
  const digits: number[] = [];
  for (let i = 0; i < position.length; i++) {
    digits.push(position.charCodeAt(i) - ZERO_CODE);
  }
  return digits;
}

/** The position spelled by `digits`, without trailing zero digits. */
function fromDigits(digits: number[]): string {
  let end = digits.length;
  while (end > 0 && digits[end - 1] === 0) {
    end--;
  }
  if (end === 0) {
    return FIRST_POSITION;
  }
  return String.fromCharCode(...digits.slice(0, end).map((digit) => digit + ZERO_CODE));
}
