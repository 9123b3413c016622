// A tenant's `/…/` pattern is a JavaScript regular expression (docs/url-filters.md), but it runs on RE2
// (linear-regex.ts), whose syntax differs in places (`\s`, `.`, `[^]`, `\p`, unknown escapes). So the source
// is parsed as JavaScript and written out again as RE2 with the same meaning, and what RE2 cannot run in
// linear time is refused here, by name, with what to write instead.
import { type AST, RegExpParser } from '@eslint-community/regexpp';
import {
  characterClass,
  complementRanges,
  literal,
  MAX_PROGRAM_SIZE,
  MAX_REPEAT,
  PatternRefused,
  type Ranges,
  type Re2Translation,
} from './linear-regex.ts';

const DIGIT: Ranges = [[0x30, 0x39]];
const WORD: Ranges = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
];
// JavaScript's \s: WhiteSpace and LineTerminator (RE2's \s is ASCII only).
const SPACE: Ranges = [
  [0x09, 0x0d],
  [0x20, 0x20],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
  [0xfeff, 0xfeff],
];
// JavaScript's `.` without the s flag excludes every line terminator (RE2's only \n).
const ANY = complementRanges([
  [0x0a, 0x0a],
  [0x0d, 0x0d],
  [0x2028, 0x2029],
]);

const parser = new RegExpParser();

/**
 * RE2 syntax with the meaning `source` has as a JavaScript regex without flags. `source` must already be
 * valid JavaScript (the caller checks with `new RegExp`). Throws PatternRefused for what cannot run in linear
 * time or would compile too big, before anything is compiled.
 */
export function regexToRe2(source: string): Re2Translation {
  const pattern = parser.parsePattern(source, 0, source.length, { unicode: false });
  // The program also has its start and its match.
  const steps = checkSize(pattern) + 2;
  return { source: alternatives(pattern.alternatives), steps };
}

function alternatives(alts: AST.Alternative[]): string {
  return alts.map((alt) => alt.elements.map(element).join('')).join('|');
}

function element(node: AST.Element): string {
  switch (node.type) {
    case 'Character':
      if (node.value >= 0xd800 && node.value <= 0xdfff) {
        throw new PatternRefused(
          'characters outside the Basic Multilingual Plane (such as emoji) never appear in a normalised URL; ' +
            'write them percent-encoded as UTF-8, e.g. %F0%9F%90%9D',
        );
      }
      return literal(node.value);
    case 'CharacterSet':
      return characterSet(node);
    case 'CharacterClass':
      return characterClass(ranges(node));
    case 'Assertion':
      return assertion(node);
    case 'Group':
      if (node.modifiers) throw new PatternRefused('inline flags such as (?i:…) are not supported');
      return `(?:${alternatives(node.alternatives)})`;
    case 'CapturingGroup':
      // Only whether it matches is asked, so captures and their names have no use.
      return `(?:${alternatives(node.alternatives)})`;
    case 'Quantifier':
      return quantifier(node);
    case 'Backreference':
      throw new PatternRefused(
        'backreferences such as \\1 or \\k<name> cannot run in linear time; ' +
          'spell out the repeated text, e.g. (?:aa|bb) instead of (a|b)\\1',
      );
    default:
      throw new PatternRefused(`${node.type} is not supported`);
  }
}

function assertion(node: AST.Assertion): string {
  switch (node.kind) {
    case 'start':
      return '^';
    case 'end':
      // Without the m flag both mean the very end of the text, as in JavaScript.
      return '$';
    case 'word':
      // ASCII word characters on both sides, as JavaScript without the u flag.
      return node.negate ? '\\B' : '\\b';
    case 'lookahead':
      throw new PatternRefused(
        `lookahead ${node.negate ? '(?!…)' : '(?=…)'} cannot run in linear time; match the text itself, ` +
          'and for "does not contain" add the pattern to exclude instead',
      );
    case 'lookbehind':
      throw new PatternRefused(
        `lookbehind ${node.negate ? '(?<!…)' : '(?<=…)'} cannot run in linear time; match the text itself, ` +
          'and for "is not preceded by" add the pattern to exclude instead',
      );
  }
}

function quantifier(node: AST.Quantifier): string {
  const { min, max } = node;
  if (min > MAX_REPEAT || (max !== Number.POSITIVE_INFINITY && max > MAX_REPEAT)) {
    throw new PatternRefused(`repetition counts above ${MAX_REPEAT} are not supported; use + or * instead`);
  }
  if (max > 1 && repeats(node.element)) {
    // Kept from the backtracking days: with a linear engine it is no longer slow, but it was refused then, and
    // a repeated repetition says nothing a single one cannot.
    throw new PatternRefused(
      'nested repetition such as (a+)+ is not supported; repeat once, e.g. a+ or (?:ab)+',
    );
  }
  const count =
    max === Number.POSITIVE_INFINITY
      ? min === 0
        ? '*'
        : min === 1
          ? '+'
          : `{${min},}`
      : min === 0 && max === 1
        ? '?'
        : min === max
          ? `{${min}}`
          : `{${min},${max}}`;
  return `(?:${element(node.element)})${count}${node.greedy ? '' : '?'}`;
}

/** Whether anything inside `node` can repeat more than once (a class's contents are characters, not syntax). */
function repeats(node: AST.Node): boolean {
  switch (node.type) {
    case 'Quantifier':
      return node.max > 1 || repeats(node.element);
    case 'Group':
    case 'CapturingGroup':
      return node.alternatives.some(repeats);
    case 'Alternative':
      return node.elements.some(repeats);
    default:
      return false;
  }
}

// `\S`, `.` and the like written out are long (a dozen ranges); a pattern of 250 `\S` would rebuild each.
const setSyntax = new Map<string, string>();

function characterSet(node: AST.CharacterSet): string {
  const key = node.raw;
  let syntax = setSyntax.get(key);
  if (syntax === undefined) {
    syntax = characterClass(ranges(node));
    setSyntax.set(key, syntax);
  }
  return syntax;
}

function ranges(node: AST.CharacterSet | AST.CharacterClass | AST.CharacterClassElement): Ranges {
  switch (node.type) {
    case 'Character':
      return [[node.value, node.value]];
    case 'CharacterClassRange':
      return [[node.min.value, node.max.value]];
    case 'CharacterSet': {
      if (node.kind === 'any') return ANY;
      if (node.kind === 'property') throw new PatternRefused('\\p{…} is not supported');
      const set = node.kind === 'digit' ? DIGIT : node.kind === 'word' ? WORD : SPACE;
      return node.negate ? complementRanges(set) : set;
    }
    case 'CharacterClass': {
      const inside = (node.elements as AST.CharacterClassElement[]).flatMap(ranges);
      return node.negate ? complementRanges(inside) : inside;
    }
    default:
      throw new PatternRefused(`${node.type} is not supported`);
  }
}

/**
 * Refuses before compiling what would compile too big: RE2 copies a group once per count of `{n,m}`, so a short
 * pattern can stand for a huge program (and compiling it would itself take long). An estimate in the engine's
 * steps; compileLinear checks the real program size afterwards.
 */
function checkSize(pattern: AST.Pattern): number {
  const size = (node: AST.Node): number => {
    switch (node.type) {
      case 'Pattern':
      case 'Group':
      case 'CapturingGroup':
        return node.alternatives.reduce((sum, alt) => sum + size(alt), node.alternatives.length - 1);
      case 'Alternative':
        return node.elements.reduce((sum, e) => sum + size(e), 0);
      case 'Quantifier': {
        // RE2 writes `x{2,5}` as `xx(?:x(?:x(?:x)?)?)?`: five copies and three optional steps; `x{2,}` as `xxx*`.
        if (node.max === Number.POSITIVE_INFINITY) return size(node.element) * (node.min + 1) + 1;
        return size(node.element) * Math.max(node.max, 1) + (node.max - node.min) + 1;
      }
      default:
        return 1;
    }
  };
  const steps = size(pattern);
  if (steps > MAX_PROGRAM_SIZE) {
    throw new PatternRefused(
      `it would compile to more than ${MAX_PROGRAM_SIZE} steps ({n} copies what it repeats n times); ` +
        'use + or * instead of large counts, or split it into several patterns',
    );
  }
  return steps;
}
