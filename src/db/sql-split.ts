// Splits a migration file into statements so a failure can name the statement, and so the statements can be
// recorded the way the Supabase CLI records them. Understands what can hide a semicolon: quoted strings
// ('…', E'…' with backslash escapes), quoted identifiers, dollar quotes ($$…$$, $tag$…$tag$) and comments.

export interface SqlStatement {
  text: string;
  /** 1-based line of the statement's first non-blank character. */
  line: number;
}

export function splitSql(source: string): SqlStatement[] {
  const statements: SqlStatement[] = [];
  let start = 0;
  let i = 0;
  const n = source.length;

  const push = (end: number) => {
    const raw = source.slice(start, end);
    if (stripComments(raw).trim() !== '') {
      statements.push({ text: raw.trim(), line: lineAt(source, start + leadingTrivia(raw)) });
    }
  };

  while (i < n) {
    const c = source[i];
    const next = source[i + 1];
    if (c === '-' && next === '-') {
      const eol = source.indexOf('\n', i);
      i = eol === -1 ? n : eol + 1;
    } else if (c === '/' && next === '*') {
      i = skipBlockComment(source, i);
    } else if (c === "'") {
      const escapes = i > 0 && /[eE]/.test(source[i - 1] ?? '') && !/\w/.test(source[i - 2] ?? '');
      i = skipQuoted(source, i, "'", escapes);
    } else if (c === '"') {
      i = skipQuoted(source, i, '"', false);
    } else if (c === '$') {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(source.slice(i, i + 64));
      if (tag && !/\w/.test(source[i - 1] ?? '')) {
        const close = source.indexOf(tag[0], i + tag[0].length);
        if (close === -1)
          throw new SyntaxError(`Unterminated dollar quote ${tag[0]} at line ${lineAt(source, i)}`);
        i = close + tag[0].length;
      } else i++;
    } else if (c === ';') {
      push(i);
      start = i + 1;
      i++;
    } else i++;
  }
  push(n);
  return statements;
}

function skipQuoted(s: string, i: number, quote: string, backslashEscapes: boolean): number {
  let j = i + 1;
  while (j < s.length) {
    const c = s[j];
    if (backslashEscapes && c === '\\') j += 2;
    else if (c === quote && s[j + 1] === quote) j += 2;
    else if (c === quote) return j + 1;
    else j++;
  }
  throw new SyntaxError(
    `Unterminated ${quote === "'" ? 'string' : 'quoted identifier'} at line ${lineAt(s, i)}`,
  );
}

function skipBlockComment(s: string, i: number): number {
  // Block comments nest in PostgreSQL.
  let depth = 0;
  let j = i;
  while (j < s.length) {
    if (s[j] === '/' && s[j + 1] === '*') {
      depth++;
      j += 2;
    } else if (s[j] === '*' && s[j + 1] === '/') {
      depth--;
      j += 2;
      if (depth === 0) return j;
    } else j++;
  }
  throw new SyntaxError(`Unterminated comment at line ${lineAt(s, i)}`);
}

/** Length of the whitespace and comments before the first token. */
function leadingTrivia(sql: string): number {
  const match = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*/.exec(sql);
  return match ? match[0].length : 0;
}

function stripComments(sql: string): string {
  return sql.replace(/--[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
}

function lineAt(s: string, index: number): number {
  let line = 1;
  for (let k = 0; k < index; k++) if (s.charCodeAt(k) === 10) line++;
  return line;
}
