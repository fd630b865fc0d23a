/**
 * Session events: the control-plane facts about sessions, Schema-encoded into the EventStore
 * (stream `session-<clientId>`). Version 1 of each; an upcaster goes here when one changes.
 */
import { Schema } from "effect"

const QoS = Schema.Literal(0, 1, 2)

/**
 * Constructor options for events a decider builds from typed commands: the fields are checked by
 * the compiler, and bytes are checked where they come in (decoding on replay), so the
 * constructor's own validation is skipped. It cost a fifth of a CONNECT's broker time (two
 * events per connect and disconnect; measured with --cpu-prof, docs/benchmarks.md).
 */
export const TRUSTED = { disableValidation: true } as const

export class SessionStarted extends Schema.TaggedClass<SessionStarted>()("SessionStarted", {
  clientId: Schema.String,
  expiryInterval: Schema.Number
}) {}

export class SessionResumed extends Schema.TaggedClass<SessionResumed>()("SessionResumed", {
  clientId: Schema.String,
  expiryInterval: Schema.Number
}) {}

export class SessionEnded extends Schema.TaggedClass<SessionEnded>()("SessionEnded", {
  clientId: Schema.String,
  /** moved: another node of the cluster took the session over, with its state (src/cluster/SessionOwnership.ts). */
  reason: Schema.Literal("clean-start", "expired", "not-persistent", "deleted", "moved")
}) {}

export class SessionDisconnected extends Schema.TaggedClass<SessionDisconnected>()("SessionDisconnected", {
  clientId: Schema.String,
  at: Schema.Number,
  expiryInterval: Schema.Number
}) {}

export class SubscriptionAdded extends Schema.TaggedClass<SubscriptionAdded>()("SubscriptionAdded", {
  clientId: Schema.String,
  filter: Schema.String,
  qos: QoS,
  noLocal: Schema.Boolean,
  retainAsPublished: Schema.Boolean,
  retainHandling: Schema.Literal(0, 1, 2),
  subscriptionId: Schema.Number
}) {}

export class SubscriptionRemoved extends Schema.TaggedClass<SubscriptionRemoved>()("SubscriptionRemoved", {
  clientId: Schema.String,
  filter: Schema.String
}) {}

/** The connection's will, for persistent sessions: published after its delay even across a restart. */
export class WillSet extends Schema.TaggedClass<WillSet>()("WillSet", {
  clientId: Schema.String,
  message: Schema.String,
  delay: Schema.Number
}) {}

/** The will was published, or the client disconnected normally [MQTT-3.1.2-10]. */
export class WillCleared extends Schema.TaggedClass<WillCleared>()("WillCleared", {
  clientId: Schema.String
}) {}

/**
 * Messages a node that held the session while it was down sent on once it was back (its
 * remnant, src/cluster/Remnants.ts), merged into what the session owes its client. `key` names
 * that remnant, so one sent again (its answer was lost) is not merged twice.
 */
export class RemnantMerged extends Schema.TaggedClass<RemnantMerged>()("RemnantMerged", {
  clientId: Schema.String,
  key: Schema.String,
  from: Schema.String,
  messages: Schema.Number
}) {}

const PendingEntry = Schema.Struct({
  tp: Schema.String,
  offset: Schema.Number,
  qos: QoS,
  packetId: Schema.Number,
  stage: Schema.Literal(0, 1)
})

export class SessionCheckpointed extends Schema.TaggedClass<SessionCheckpointed>()("SessionCheckpointed", {
  clientId: Schema.String,
  at: Schema.Number,
  positions: Schema.Array(Schema.Tuple(Schema.String, Schema.Number)),
  pending: Schema.Array(PendingEntry),
  qos2Inbound: Schema.Array(Schema.Number)
}) {}

export const SessionEvent = Schema.Union(
  SessionStarted,
  SessionResumed,
  SessionEnded,
  SessionDisconnected,
  SubscriptionAdded,
  SubscriptionRemoved,
  SessionCheckpointed,
  WillSet,
  WillCleared,
  RemnantMerged
)
export type SessionEvent = typeof SessionEvent.Type

export const sessionStream = (clientId: string): string => `session-${clientId}`
export const isSessionStream = (stream: string): boolean => stream.startsWith("session-")
