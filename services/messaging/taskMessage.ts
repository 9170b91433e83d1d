import type { ConsumeMessage } from 'amqplib';
import { z } from 'zod';
import { ErrorCode } from '../domain/errors.js';
import { traceparentOf } from '../domain/events.js';
import type { OutboxMessage } from '../eventstore/append.js';

/**
 * The task message, whole (DESIGN §4): its kinds and routing keys, the headers framelog reads or
 * writes, the body schemas, the outbox row that publishes it and the mapping of a delivery from AMQP.
 * Schema 2 names the task's kind and carries only what the worker reads; schema 1 messages (still in
 * queues after an upgrade) are read as `transcode` tasks, their storageKey and attempt ignored: the log
 * says both.
 */

/**
 * The kinds of task a worker runs, each with the routing key its messages are published with. Every
 * kind goes to the one work queue (fair dispatch, prefetch 1, DESIGN §4): the delay queues route retried
 * messages back by this key whatever their kind, and the worker dispatches by the body's `kind`.
 * `segment` encodes one range of a split video, `stitch` joins them (DESIGN §11).
 */
export const TaskRoutingKeys = {
  transcode: 'video.process',
  segment: 'video.process',
  stitch: 'video.process',
} as const;
export type TaskKind = keyof typeof TaskRoutingKeys;
const TASK_KINDS = Object.keys(TaskRoutingKeys) as [TaskKind, ...TaskKind[]];

/** Message headers framelog reads or writes. */
export const HeaderNames = {
  correlationId: 'correlationId',
  traceparent: 'traceparent',
  /** Why a message was dead-lettered (set by the subscriber's `dead-letter` outcome). */
  deadLetterReason: 'framelog-dead-letter-reason',
  /** Set by quorum queues on redeliveries: failed deliveries so far (absent on the first). */
  deliveryCount: 'x-delivery-count',
  /**
   * On a requeued task: the attempt whose start the log still shows unfinished because the worker could
   * not record how it ended (database down). The next delivery records it as interrupted, uncounted.
   */
  interruptedAttempt: 'framelog-interrupted-attempt',
  /** Set by the broker when it dead-letters a message: why (`delivery_limit`, `rejected`, `expired`…). */
  firstDeathReason: 'x-first-death-reason',
} as const;

const TaskMessageV1Schema = z.object({
  schema: z.literal(1),
  videoId: z.uuid(),
  taskId: z.uuid(),
  storageKey: z.string().min(1),
  attempt: z.number().int().positive(),
});

const TaskMessageV2Schema = z.object({
  schema: z.literal(2),
  kind: z.enum(TASK_KINDS),
  videoId: z.uuid(),
  taskId: z.uuid(),
});

/** Every body a worker accepts. */
export const TaskMessageSchema = z.discriminatedUnion('schema', [TaskMessageV1Schema, TaskMessageV2Schema]);
/** A body as published (either schema). */
export type TaskMessageBody = z.infer<typeof TaskMessageSchema>;
/** A body as written today. */
export type TaskMessageV2 = z.infer<typeof TaskMessageV2Schema>;

/** A task as the worker reads it, whatever the schema of its message. */
export interface TaskMessage {
  kind: TaskKind;
  videoId: string;
  taskId: string;
}

export type ParsedTask = { ok: true; task: TaskMessage } | { ok: false; reason: string };

/** Validates a delivered body; the reason (INVALID_MESSAGE: field problems) goes with the dead letter. */
export function parseTaskMessage(body: unknown): ParsedTask {
  const parsed = TaskMessageSchema.safeParse(body);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'} ${i.message}`).join('; ');
    return { ok: false, reason: `${ErrorCode.INVALID_MESSAGE}: ${problems}` };
  }
  const { videoId, taskId } = parsed.data;
  return { ok: true, task: { kind: parsed.data.schema === 1 ? 'transcode' : parsed.data.kind, videoId, taskId } };
}

export interface TaskOutboxInput {
  /**
   * The message id: the id of the event that creates the task (VideoUploaded, RetryRequested,
   * StitchRequested), or the task's own id when one event fans out many (VideoSplit's segments).
   */
  eventId: string;
  kind: TaskKind;
  videoId: string;
  /** The task: the video's (transcode, stitch) or the segment's, which is also its stream's id. */
  taskId: string;
  correlationId: string;
  /** The W3C trace context of the request that created the task, if it had one. */
  traceparent?: string;
}

/**
 * The outbox row for a task message, in the shape the relay publishes: message id = the event id, so
 * a republished row is recognisable as the same message.
 */
export function taskOutboxMessage(input: TaskOutboxInput): OutboxMessage {
  const payload: TaskMessageV2 = { schema: 2, kind: input.kind, videoId: input.videoId, taskId: input.taskId };
  return {
    id: input.eventId,
    routingKey: TaskRoutingKeys[input.kind],
    payload,
    headers: {
      [HeaderNames.correlationId]: input.correlationId,
      ...(input.traceparent === undefined ? {} : { [HeaderNames.traceparent]: input.traceparent }),
    },
  };
}

/** One arrival of a task message, as the worker sees it. */
export interface TaskDelivery {
  /** The parsed JSON body, not yet validated (parseTaskMessage is the consumer's business). */
  body: unknown;
  messageId: string | null;
  correlationId: string | null;
  traceparent: string | null;
  /** Failed deliveries so far, from the quorum queue's x-delivery-count; 0 on the first delivery. */
  deliveryCount: number;
  redelivered: boolean;
  /** Set on a copy requeued with `interruptedAttempt` (see TaskOutcome). */
  interruptedAttempt: number | null;
  /**
   * Why the properties or headers framelog reads are invalid (`INVALID_MESSAGE: …`, taskHeadersProblem),
   * or null. The fields above are then unreliable: the consumer dead-letters the message, as for a bad body.
   */
  invalidHeaders: string | null;
}

/** Reads a delivery from the AMQP message and its parsed content. */
export function toDelivery(message: ConsumeMessage, content: unknown): TaskDelivery {
  const headers = message.properties.headers ?? {};
  const count = Number(headers[HeaderNames.deliveryCount] ?? 0);
  return {
    body: content,
    messageId: stringOrNull(message.properties.messageId),
    correlationId: stringOrNull(message.properties.correlationId) ?? stringOrNull(headers[HeaderNames.correlationId]),
    traceparent: stringOrNull(headers[HeaderNames.traceparent]),
    deliveryCount: Number.isFinite(count) ? count : 0,
    redelivered: message.fields.redelivered,
    interruptedAttempt: positiveIntOrNull(headers[HeaderNames.interruptedAttempt]),
    invalidHeaders: taskHeadersProblem(message.properties),
  };
}

/**
 * The message as it should be forwarded: without x-delivery-count, which belongs to this delivery
 * (carried over, the copy's first delivery would report the original's failures), and without an
 * interrupted attempt, which the delivery that read it has dealt with.
 */
export function freshCopy(message: ConsumeMessage): ConsumeMessage {
  const { [HeaderNames.deliveryCount]: _count, [HeaderNames.interruptedAttempt]: _interrupted, ...headers } = message.properties.headers ?? {};
  return { ...message, properties: { ...message.properties, headers } };
}

export const stringOrNull = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);
const positiveIntOrNull = (value: unknown): number | null => (Number.isInteger(value) && (value as number) > 0 ? (value as number) : null);

/**
 * The properties and headers of a task message that framelog reads, as framelog publishes them: the
 * message id is the id of the event that created the task; the correlation id (property and header,
 * which must agree) becomes event metadata. Headers framelog does not read pass unchecked.
 */
const TaskPropertiesSchema = z
  .object({
    messageId: z.uuid({ error: 'must be a UUID (the id of the event that created the task)' }),
    correlationId: z.uuid().optional(),
    headers: z.object({
      [HeaderNames.correlationId]: z.uuid().optional(),
      [HeaderNames.traceparent]: z.string().refine((header) => traceparentOf(header) !== undefined, 'must be a W3C traceparent').optional(),
      [HeaderNames.interruptedAttempt]: z.number().int().positive().optional(),
      [HeaderNames.deliveryCount]: z.number().int().nonnegative().optional(),
    }),
  })
  .refine((p) => p.correlationId === undefined || p.headers.correlationId === undefined || p.correlationId === p.headers.correlationId, {
    message: 'differs from the correlationId property',
    path: ['headers', HeaderNames.correlationId],
  });

/** What of an AMQP message's properties this reads (amqplib's MessageProperties, types unchecked). */
export interface TaskProperties {
  messageId?: unknown;
  correlationId?: unknown;
  headers?: Record<string, unknown>;
}

/**
 * Why the properties or headers of a task message are unusable (`INVALID_MESSAGE: …`, to be
 * dead-lettered at once, as an invalid body is), or null when framelog can read them.
 */
export function taskHeadersProblem(properties: TaskProperties): string | null {
  const parsed = TaskPropertiesSchema.safeParse({
    messageId: properties.messageId ?? undefined,
    correlationId: properties.correlationId ?? undefined,
    headers: properties.headers ?? {},
  });
  if (parsed.success) return null;
  return `${ErrorCode.INVALID_MESSAGE}: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`;
}
