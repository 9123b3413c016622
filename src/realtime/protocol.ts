// Phoenix's websocket serializers, as realtime-js speaks them: vsn 1.0.0 frames are JSON objects
// {topic, event, payload, ref, join_ref}, vsn 2.0.0 frames JSON arrays [join_ref, ref, topic, event, payload].
// Decoding is strict: anything else is a FrameError, which the connection answers with an error reply.
// Change frames are the hot path (one change, hundreds of subscribers): a change's `data` is serialised once
// and spliced into each subscriber's frame.
import type { Change } from './types.ts';

export type Vsn = '1.0.0' | '2.0.0';

/** What Phoenix assumes when a client names no vsn; realtime-js sends 2.0.0. */
export const DEFAULT_VSN: Vsn = '1.0.0';

export interface Message {
  joinRef: string | null;
  ref: string | null;
  topic: string;
  event: string;
  payload: Record<string, unknown>;
}

/** A frame that is not a well-formed message; topic and ref are kept when they could be read, for the reply. */
export class FrameError extends Error {
  override name = 'FrameError';
  constructor(
    message: string,
    readonly topic?: string,
    readonly ref: string | null = null,
  ) {
    super(message);
  }
}

export interface Serializer {
  readonly vsn: Vsn;
  decode(text: string): Message;
  encode(message: Message): string;
  /** Builds a channel's postgres_changes frames from the matching binding ids and changeData(). */
  changeFrame(topic: string, joinRef: string | null): (ids: readonly number[], data: string) => string;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isRef = (value: unknown): value is string | null => value === null || typeof value === 'string';
const json = JSON.stringify;

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new FrameError('the frame is not JSON');
  }
}

function checked(joinRef: unknown, ref: unknown, topic: unknown, event: unknown, payload: unknown): Message {
  const goodTopic = typeof topic === 'string' ? topic : undefined;
  const goodRef = typeof ref === 'string' ? ref : null;
  const fail = (why: string) => new FrameError(why, goodTopic, goodRef);
  if (goodTopic === undefined) throw fail('topic must be a string');
  if (typeof event !== 'string') throw fail('event must be a string');
  if (!isRef(ref)) throw fail('ref must be a string or null');
  if (!isRef(joinRef)) throw fail('join_ref must be a string or null');
  if (!isObject(payload)) throw fail('payload must be an object');
  return { joinRef, ref, topic: goodTopic, event, payload };
}

const v1: Serializer = {
  vsn: '1.0.0',
  decode(text) {
    const frame = parse(text);
    if (!isObject(frame)) {
      throw new FrameError('a vsn 1.0.0 frame is an object {topic, event, payload, ref, join_ref}');
    }
    return checked(frame.join_ref ?? null, frame.ref ?? null, frame.topic, frame.event, frame.payload);
  },
  encode: (m) =>
    json({ topic: m.topic, event: m.event, payload: m.payload, ref: m.ref, join_ref: m.joinRef }),
  changeFrame(topic, joinRef) {
    const head = `{"topic":${json(topic)},"event":"postgres_changes","payload":{"ids":[`;
    const tail = `},"ref":null,"join_ref":${json(joinRef)}}`;
    return (ids, data) => `${head}${ids.join(',')}],"data":${data}${tail}`;
  },
};

const v2: Serializer = {
  vsn: '2.0.0',
  decode(text) {
    const frame = parse(text);
    if (!Array.isArray(frame) || frame.length !== 5) {
      throw new FrameError('a vsn 2.0.0 frame is an array [join_ref, ref, topic, event, payload]');
    }
    const [joinRef, ref, topic, event, payload] = frame;
    return checked(joinRef, ref, topic, event, payload);
  },
  encode: (m) => json([m.joinRef, m.ref, m.topic, m.event, m.payload]),
  changeFrame(topic, joinRef) {
    const head = `[${json(joinRef)},null,${json(topic)},"postgres_changes",{"ids":[`;
    return (ids, data) => `${head}${ids.join(',')}],"data":${data}}]`;
  },
};

/** The serializer for a `vsn` query parameter; undefined for a version we do not speak. */
export function serializerFor(vsn: string | null): Serializer | undefined {
  if (vsn === null || vsn === v1.vsn) return v1;
  if (vsn === v2.vsn) return v2;
  return undefined;
}

/** A phx_reply to `to`, on its topic and refs. */
export function reply(
  to: Pick<Message, 'topic' | 'ref' | 'joinRef'>,
  status: 'ok' | 'error',
  response: Record<string, unknown>,
): Message {
  return {
    joinRef: to.joinRef,
    ref: to.ref,
    topic: to.topic,
    event: 'phx_reply',
    payload: { status, response },
  };
}

const dataCache = new WeakMap<Change, string>();

/**
 * The JSON of a change frame's `data`, as Supabase Realtime sends it: INSERT has `record`, DELETE
 * `old_record`, UPDATE both (old_record only as far as the replica identity gave it). Cached per Change, so
 * it is serialised once however many subscribers receive it; a Change is part of one transaction, so
 * `commitTimestamp` is the same on every call.
 */
export function changeData(change: Change, commitTimestamp: string): string {
  let data = dataCache.get(change);
  if (data === undefined) {
    const body: Record<string, unknown> = {
      schema: change.schema,
      table: change.table,
      commit_timestamp: commitTimestamp,
      type: change.type,
      columns: change.columns,
    };
    if (change.type !== 'DELETE') body.record = change.record ?? {};
    if (change.type === 'DELETE') body.old_record = change.oldRecord ?? {};
    else if (change.type === 'UPDATE' && change.oldRecord) body.old_record = change.oldRecord;
    body.errors = null;
    data = json(body);
    dataCache.set(change, data);
  }
  return data;
}
