// Minimal levelled logger to stderr; stdout stays free for command output (reports, JSON).
type Level = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

let threshold: Level = 'info';

export function setLogLevel(level: Level): void {
  threshold = level;
}

// A live status line (the crawl progress bar) owns the terminal's last line: a log line clears it, prints
// itself, and puts the status back underneath, instead of being glued onto the end of the bar.
let statusLine: (() => string) | undefined;

export function pinStatusLine(render: (() => string) | undefined): void {
  statusLine = render;
}

function write(level: Exclude<Level, 'silent'>, message: string): void {
  if (ORDER[level] < ORDER[threshold]) return;
  const line = `${new Date().toISOString()} ${level.padEnd(5)} ${message}\n`;
  process.stderr.write(statusLine ? `\r\x1b[K${line}${statusLine()}` : line);
}

export const log = {
  debug: (m: string) => write('debug', m),
  info: (m: string) => write('info', m),
  warn: (m: string) => write('warn', m),
  error: (m: string) => write('error', m),
};
