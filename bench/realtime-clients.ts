// The client process of `npm run bench:realtime`: N websocket clients speaking Phoenix 2.0.0 directly with
// `ws`, as realtime-js does (the same join payload, a heartbeat every 25 s), each joining one channel with two
// bindings: its organisation's job's tasks and the unfiltered jobs table. Lighter than N supabase-js clients,
// so the machine's two cores go to the server: a task change's frame is not parsed, only the few fields the
// bench needs are read from it (its table, commit_timestamp and job_id); jobs events are parsed.
// Driven over IPC by bench/realtime.ts (realtime-messages.ts).
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import type {
  ClientSpec,
  ClientsReport,
  FromClients,
  JobState,
  LatencySummary,
  ToClients,
} from './realtime-messages.ts';

const HEARTBEAT_MS = 25_000;
const CONNECT_TIMEOUT_MS = 60_000;
/** Clients opening their socket and joining at once. */
const CONNECT_BATCH = 50;

const CHANGE_MARK = '"postgres_changes",{"ids"';
const TABLE_MARK = '"table":"';
const TS_MARK = '"commit_timestamp":"';
const JOB_MARK = '"job_id":"';

/** The fields of a reply or `system` payload the client looks at. */
interface Payload {
  status?: string;
  response?: unknown;
  message?: string;
  reason?: string;
}

class Client {
  tasks = 0;
  jobEvents = 0;
  lastJob: JobState | null = null;
  lost = false;
  private ws: WebSocket | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private ref = 0;

  constructor(
    readonly spec: ClientSpec,
    /** Where this step's samples go; replaced at each reset. */
    public run: Run,
  ) {}

  /** Opens the socket and joins; resolves on "Subscribed to PostgreSQL". */
  open(wsUrl: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(wsUrl, { perMessageDeflate: false, skipUTF8Validation: true });
      this.ws = ws;
      const topic = `realtime:bench-${this.spec.jobId}`;
      const joinRef = this.nextRef();
      const timer = setTimeout(
        () => reject(new Error(`no subscription within ${CONNECT_TIMEOUT_MS} ms`)),
        CONNECT_TIMEOUT_MS,
      );
      ws.once('open', () => {
        ws.send(
          JSON.stringify([
            joinRef,
            joinRef,
            topic,
            'phx_join',
            {
              config: {
                broadcast: { ack: false, self: false },
                presence: { key: '', enabled: false },
                postgres_changes: [
                  { event: '*', schema: 'public', table: 'tasks', filter: `job_id=eq.${this.spec.jobId}` },
                  { event: '*', schema: 'public', table: 'jobs' },
                ],
                private: false,
              },
              access_token: this.spec.token,
            },
          ]),
        );
        this.heartbeat = setInterval(
          () => ws.send(JSON.stringify([null, this.nextRef(), 'phoenix', 'heartbeat', {}])),
          HEARTBEAT_MS,
        );
      });
      ws.once('error', reject);
      ws.once('close', (code, reason) => {
        clearInterval(this.heartbeat);
        if (!this.lost) this.run.errors.push(`socket closed ${code} ${reason.toString()}`);
        this.lost = true;
        reject(new Error(`closed before subscribing: ${code} ${reason.toString()}`));
      });
      ws.on('message', (data: Buffer) => {
        const text = data.toString();
        const at = performance.timeOrigin + performance.now();
        const mark = text.indexOf(CHANGE_MARK);
        if (mark >= 0 && mark < 200) return this.change(text, mark, at);
        const [, , , event, payload] = JSON.parse(text) as [unknown, unknown, string, string, Payload];
        if (event === 'phx_reply' && payload.status !== 'ok') {
          reject(new Error(`join refused: ${JSON.stringify(payload.response)}`));
        } else if (event === 'system' && payload.status === 'ok') {
          clearTimeout(timer);
          resolve();
        } else if (event === 'system' || event === 'phx_error' || event === 'phx_close') {
          this.lost = true;
          this.run.errors.push(`${event}: ${payload.message ?? payload.reason ?? ''}`);
        }
      });
    });
  }

  close(): void {
    clearInterval(this.heartbeat);
    this.lost = true;
    this.ws?.close();
  }

  private change(text: string, mark: number, at: number): void {
    const table = text.indexOf(TABLE_MARK, mark) + TABLE_MARK.length;
    const ts = text.indexOf(TS_MARK, mark) + TS_MARK.length;
    const latency = at - commitMs(text.slice(ts, ts + 27));
    if (text.startsWith('tasks"', table)) {
      const job = text.indexOf(JOB_MARK, mark) + JOB_MARK.length;
      if (text.startsWith(this.spec.jobId, job)) {
        this.tasks++;
        this.run.taskLatency.push(latency);
      } else this.run.foreign++;
      return;
    }
    const record = (JSON.parse(text)[4].data.record ?? {}) as Record<string, unknown>;
    if (record.id !== this.spec.jobId) {
      this.run.foreign++;
      return;
    }
    this.jobEvents++;
    this.run.jobLatency.push(latency);
    this.lastJob = {
      pending: Number(record.pending_tasks),
      running: Number(record.running_tasks),
      completed: Number(record.completed_tasks),
    };
  }

  private nextRef(): string {
    return String(++this.ref);
  }
}

/** '2026-12-07T01:02:03.123456Z' → ms since the epoch, with the microseconds. */
function commitMs(iso: string): number {
  return Date.parse(`${iso.slice(0, 19)}Z`) + Number(iso.slice(20, 26)) / 1000;
}

class Run {
  taskLatency: number[] = [];
  jobLatency: number[] = [];
  foreign = 0;
  errors: string[] = [];
  cpu = process.cpuUsage();
}

function summary(samples: number[]): LatencySummary {
  const sorted = Float64Array.from(samples).sort();
  const at = (p: number) =>
    sorted.length === 0
      ? Number.NaN
      : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
  return { n: sorted.length, p50: at(50), p95: at(95), p99: at(99), max: sorted.at(-1) ?? Number.NaN };
}

let run = new Run();
let clients: Client[] = [];

async function connectAll(wsUrl: string, specs: ClientSpec[]): Promise<void> {
  clients = specs.map((spec) => new Client(spec, run));
  for (let i = 0; i < clients.length; i += CONNECT_BATCH) {
    await Promise.all(clients.slice(i, i + CONNECT_BATCH).map((c) => c.open(wsUrl)));
  }
}

function report(): ClientsReport {
  const cpu = process.cpuUsage(run.cpu);
  return {
    tasks: clients.map((c) => c.tasks),
    jobEvents: clients.map((c) => c.jobEvents),
    lastJob: clients.map((c) => c.lastJob),
    foreign: run.foreign,
    taskLatency: summary(run.taskLatency),
    jobLatency: summary(run.jobLatency),
    lost: clients.filter((c) => c.lost).length,
    errors: run.errors.slice(0, 10),
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
}

const send = (message: FromClients) => process.send!(message);

process.on('message', async (message: ToClients) => {
  const { seq } = message;
  try {
    switch (message.type) {
      case 'connect': {
        const t0 = performance.now();
        const url = `${message.wsUrl}?apikey=${encodeURIComponent(message.apikey)}&vsn=2.0.0`;
        await connectAll(url, message.clients);
        return send({ type: 'done', seq, ms: performance.now() - t0 });
      }
      case 'reset':
        run = new Run();
        for (const c of clients) {
          c.run = run;
          c.tasks = 0;
          c.jobEvents = 0;
        }
        return send({ type: 'done', seq });
      case 'count':
        return send({ type: 'count', seq, tasks: clients.reduce((n, c) => n + c.tasks, 0) });
      case 'report':
        return send({ type: 'report', seq, report: report() });
      case 'close':
        for (const c of clients) c.close();
        send({ type: 'done', seq });
        return process.disconnect();
    }
  } catch (err) {
    send({ type: 'failed', seq, message: err instanceof Error ? err.message : String(err) });
  }
});
