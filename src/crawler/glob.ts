// Globs (docs/url-filters.md#globs) written out as RE2 syntax for the linear-time engine. picomatch used to
// compile them, but its output leans on lookaheads (`(?!\.{1,2}(?:\/|$))`, `(?=.)`), which no linear-time
// engine runs, so the same rules are written here without them. The glob is matched against the URL's path
// without its leading `/`, as picomatch saw it.
import {
  characterClass,
  complementRanges,
  literal,
  MAX_PROGRAM_SIZE,
  PatternRefused,
  type Ranges,
  type Re2Translation,
} from './linear-regex.ts';

/** How many plain globs a pattern's `{a,b}` lists may expand to. */
export const MAX_BRACE_EXPANSIONS = 32;

type Token =
  | { kind: 'literal'; char: number }
  | { kind: 'one' } // ?
  | { kind: 'star' } // * within a segment (or ** that is not a whole segment)
  | { kind: 'segment' } // * as a whole segment
  | { kind: 'globstar' } // ** as a whole segment
  | { kind: 'class'; ranges: Ranges; negate: boolean };

const SLASH = 0x2f;
const NOT_SLASH = '[^/]';
// A non-empty segment other than `.` and `..`, which `*` and `**` never match (picomatch's rule, dot: true):
// its first one to three characters rule those two out, then anything up to the next `/`.
const SEGMENT = '(?:(?:[^/.]|\\.[^/.]|\\.\\.[^/])[^/]*)';
// What `**` matches: any number of segments, none of them `.` or `..`; empty segments and "" included. (Two
// segments side by side are one segment, never `.` or `..`, so slashes and segments in any order will do.)
const GLOBSTAR = `(?:/|${SEGMENT})*`;

// At most what each part compiles to, in the engine's steps (measured with RE2JS programSize()), so that a
// glob too big to run is refused before compiling it, which would itself take long.
const STEPS = { literal: 1, one: 1, class: 1, star: 2, segment: 11, globstar: 16, glob: 6 } as const;

/**
 * RE2 syntax, anchored at both ends, for `glob` (its leading `/` already removed), and at most how many steps
 * its program will have.
 */
export function globToRe2(glob: string): Re2Translation {
  const globs = expandBraces(glob).map(tokens);
  const steps = globs.reduce((sum, g) => sum + STEPS.glob + g.reduce((n, t) => n + STEPS[t.kind], 0), 0);
  if (steps > MAX_PROGRAM_SIZE) {
    throw new PatternRefused(
      `it would compile to about ${steps} steps, more than the ${MAX_PROGRAM_SIZE} allowed; ` +
        'split it into several patterns',
    );
  }
  return { source: `^(?:${globs.map(plainGlob).join('|')})$`, steps };
}

/** `a{b,c}d` → [abd, acd], nested lists included; a `{…}` without a top-level comma stays literal. */
function expandBraces(glob: string): string[] {
  const open = findUnescaped(glob, '{', 0);
  if (open === -1) return [glob];
  const close = matchingBrace(glob, open);
  if (close === -1) throw new PatternRefused('"{" has no closing "}"; write \\{ for a literal brace');
  const body = glob.slice(open + 1, close);
  const options = splitTopLevel(body);
  if (/^-?\d+\.\.-?\d+$|^[a-zA-Z]\.\.[a-zA-Z]$/.test(body)) {
    throw new PatternRefused('ranges such as {1..5} are not supported; list them, {1,2,3,4,5}, or use [1-5]');
  }
  const prefix = glob.slice(0, open);
  const rest = glob.slice(close + 1);
  if (options.length < 2) {
    // picomatch reads `{a}` as the text "{a}".
    return expandBraces(rest).map((r) => `${prefix}\\{${escapeBraces(body)}\\}${r}`);
  }
  const out: string[] = [];
  for (const option of options) {
    for (const tail of expandBraces(option + rest)) {
      out.push(prefix + tail);
      if (out.length > MAX_BRACE_EXPANSIONS) {
        throw new PatternRefused(`its {…} lists expand to more than ${MAX_BRACE_EXPANSIONS} globs; split it`);
      }
    }
  }
  return out;
}

function escapeBraces(text: string): string {
  return text.replace(/\\.|[{}]/g, (m) => (m.length === 2 ? m : `\\${m}`));
}

/** Index of `char` at or after `from`, skipping `\x` escapes and `[…]` classes; -1 if none. */
function findUnescaped(text: string, char: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '[') i = classEnd(text, i) ?? i;
    else if (text[i] === char) return i;
  }
  return -1;
}

function matchingBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '[') i = classEnd(text, i) ?? i;
    else if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

function splitTopLevel(body: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    if (body[i] === '\\') i++;
    else if (body[i] === '[') i = classEnd(body, i) ?? i;
    else if (body[i] === '{') depth++;
    else if (body[i] === '}') depth--;
    else if (body[i] === ',' && depth === 0) {
      parts.push(body.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(body.slice(start));
  return parts;
}

/** Index of the `]` closing the class opened at `open`, or undefined when it is not closed (then `[` is literal). */
function classEnd(text: string, open: number): number | undefined {
  let i = open + 1;
  if (text[i] === '^' || text[i] === '!') i++;
  if (text[i] === ']') i++; // a `]` first is a member
  for (; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === ']') return i;
  }
  return undefined;
}

function tokens(glob: string): Token[] {
  const out: Token[] = [];
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '\\') {
      if (i + 1 >= glob.length)
        throw new PatternRefused('it ends in a lone "\\"; write \\\\ for a backslash');
      out.push({ kind: 'literal', char: glob.codePointAt(++i)! });
      if (glob.codePointAt(i)! > 0xffff) i++;
    } else if (c === '?') {
      out.push({ kind: 'one' });
    } else if (c === '*') {
      let stars = 1;
      while (glob[i + 1] === '*') {
        stars++;
        i++;
      }
      const whole =
        (i - stars < 0 || glob[i - stars] === '/') && (i + 1 >= glob.length || glob[i + 1] === '/');
      out.push({ kind: !whole ? 'star' : stars > 1 ? 'globstar' : 'segment' });
    } else if (c === '[' && classEnd(glob, i) !== undefined) {
      const end = classEnd(glob, i)!;
      out.push(bracket(glob.slice(i + 1, end)));
      i = end;
    } else if (c === '(' || c === ')') {
      throw new PatternRefused(
        'parentheses are picomatch groups and extglobs (@(…), !(…), +(…)), which are not supported; ' +
          'use {a,b} for alternatives, or \\( and \\) to match a parenthesis',
      );
    } else if (c === '!' && i === 0) {
      throw new PatternRefused(
        'a leading "!" negates a glob, which is not supported; use an exclude pattern',
      );
    } else {
      const char = glob.codePointAt(i)!;
      out.push({ kind: 'literal', char });
      if (char > 0xffff) i++;
    }
  }
  return out;
}

/** The inside of `[…]`: members, ranges `a-z`, `^` first to negate. */
function bracket(body: string): Token {
  if (body.startsWith('!')) {
    // picomatch 4 reads `[!b]` as the characters ! and b, unlike shells: refuse rather than guess.
    throw new PatternRefused('"[!…]" is ambiguous; write [^…] for "any character but", or [\\!…] for "!"');
  }
  if (body.startsWith('[:') || body.includes('[:')) {
    throw new PatternRefused('POSIX classes such as [[:alpha:]] are not supported; write [a-zA-Z] or [0-9]');
  }
  const negate = body.startsWith('^');
  const members: Array<{ char: number; escaped: boolean }> = [];
  for (let i = negate ? 1 : 0; i < body.length; i++) {
    const escaped = body[i] === '\\';
    if (escaped) i++;
    const char = body.codePointAt(i)!;
    members.push({ char, escaped });
    if (char > 0xffff) i++;
  }
  const ranges: Array<[number, number]> = [];
  for (let i = 0; i < members.length; i++) {
    const lo = members[i]!.char;
    const dash = members[i + 1];
    const hi = members[i + 2]?.char;
    // `-` between two members is a range; first, last or escaped it is itself (`[a-]`, `[a\-z]`).
    if (dash && dash.char === 0x2d && !dash.escaped && hi !== undefined) {
      if (lo > hi) throw new PatternRefused(`the range ${String.fromCodePoint(lo, 0x2d, hi)} is backwards`);
      ranges.push([lo, hi]);
      i += 2;
    } else {
      ranges.push([lo, lo]);
    }
  }
  return { kind: 'class', ranges, negate };
}

function plainGlob(glob: Token[]): string {
  const segments: Token[][] = [[]];
  for (const t of glob) {
    if (t.kind === 'literal' && t.char === SLASH) segments.push([]);
    else segments[segments.length - 1]!.push(t);
  }
  // `**/**` is `**`.
  const segs = segments.filter((s, i) => !(isGlobstar(s) && i > 0 && isGlobstar(segments[i - 1]!)));
  let out = '';
  let slashPending = false; // whether the separator before this segment is still to be written
  segs.forEach((seg, i) => {
    const first = i === 0;
    const last = i === segs.length - 1;
    if (isGlobstar(seg)) {
      if (first && last)
        out += GLOBSTAR; // `**`
      else if (last)
        out += `(?:/${GLOBSTAR})?`; // `a/**` also matches `a` itself
      else out += `${first ? '' : '/'}(?:${GLOBSTAR}/)?`; // `**/a`, `a/**/b`: zero or more segments between
      slashPending = false;
      return;
    }
    if (slashPending) out += '/';
    out += segment(seg, last);
    slashPending = true;
  });
  // picomatch lets a glob whose last token is `*` or a class match one trailing slash too: `/blog/*` matches
  // `/blog/post/`.
  const end = glob[glob.length - 1];
  if (end && (end.kind === 'star' || end.kind === 'segment' || end.kind === 'class')) out += '/?';
  return out;
}

function isGlobstar(segment: Token[]): boolean {
  return segment.length === 1 && segment[0]!.kind === 'globstar';
}

function segment(seg: Token[], last: boolean): string {
  // A lone `*` is a segment other than `.` and `..`; a non-empty one at the end (`/blog/*` does not match
  // `/blog/`), possibly empty in the middle (`/a/*/b` matches `/a//b`), as in picomatch.
  if (seg[0]?.kind === 'segment') return last ? SEGMENT : `${SEGMENT}?`;
  return seg.map(token).join('');
}

function token(t: Token): string {
  switch (t.kind) {
    case 'literal':
      return literal(t.char);
    case 'one':
      return NOT_SLASH;
    case 'star':
      return `${NOT_SLASH}*`;
    case 'segment':
    case 'globstar':
      // Only ever alone in their segment, where segment() and plainGlob() write them.
      return '';
    case 'class':
      // A negated class never matches `/`: it stays within a segment, as `*` and `?` do.
      return characterClass(t.negate ? complementRanges([...t.ranges, [SLASH, SLASH]]) : t.ranges);
  }
}
