// What bench/realtime.ts and its client process (bench/realtime-clients.ts) say to each other over IPC.

/** One websocket client: a signed-in member of `org`, watching its job's tasks and the jobs table. */
export interface ClientSpec {
  token: string;
  org: number;
  jobId: string;
}

export type ToClients =
  | { type: 'connect'; seq: number; wsUrl: string; apikey: string; clients: ClientSpec[] }
  /** Forget what was received so far: a step begins. */
  | { type: 'reset'; seq: number }
  /** Task changes received so far (to see when delivery has drained). */
  | { type: 'count'; seq: number }
  | { type: 'report'; seq: number }
  | { type: 'close'; seq: number };

export interface JobState {
  pending: number;
  running: number;
  completed: number;
}

export interface LatencySummary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface ClientsReport {
  /** Per client, in spec order: task changes of its own job received. */
  tasks: number[];
  /** Per client: jobs events of its own job received (coalesced by the hub: a few per second). */
  jobEvents: number[];
  /** Per client: its job's counters in the last jobs event it received. */
  lastJob: Array<JobState | null>;
  /** Changes of another organisation's job received by anyone: must be 0 (RLS). */
  foreign: number;
  /** Commit-to-callback, ms: task changes, and jobs events. */
  taskLatency: LatencySummary;
  jobLatency: LatencySummary;
  /** Clients whose socket closed or whose channel got a `system` error since the reset. */
  lost: number;
  errors: string[];
  /** CPU of the client process since the reset, ms. */
  cpuMs: number;
}

export type FromClients =
  | { type: 'done'; seq: number; ms?: number }
  | { type: 'count'; seq: number; tasks: number }
  | { type: 'report'; seq: number; report: ClientsReport }
  | { type: 'failed'; seq: number; message: string };
