/**
 * The persisted state of one MQTT session, as folded from its events: what survives a client
 * reconnect and a broker restart. Runtime-only state (the live connection, packet-id maps)
 * lives in the broker, not here.
 */
export type QoS = 0 | 1 | 2

/** Seconds; this value means "never expires" (MQTT 3.1.1 persistent sessions). */
export const NEVER_EXPIRES = 0xffffffff

export interface SubscriptionOptions {
  readonly qos: QoS
  readonly noLocal: boolean
  readonly retainAsPublished: boolean
  readonly retainHandling: 0 | 1 | 2
  /** v5 Subscription Identifier, 0 when absent. */
  readonly subscriptionId: number
}

/** A message owed to the session: a position in the log plus its delivery state. */
export interface PendingEntry {
  readonly tp: string
  readonly offset: number
  readonly qos: QoS
  /** 0 until a packet id was assigned (the message was sent at least once). */
  readonly packetId: number
  /** 0: PUBLISH sent (or queued), 1: PUBREC received and PUBREL sent (QoS 2 only). */
  readonly stage: 0 | 1
}

/**
 * Where the session's backlog stands: every log record below `positions[tp]` that matches the
 * session's subscriptions is either acknowledged or listed in `pending`; records from there on
 * are re-derived by scanning the log (cursors, not copies: DESIGN.md section 2).
 */
export interface Checkpoint {
  readonly at: number
  readonly positions: ReadonlyArray<readonly [tp: string, end: number]>
  readonly pending: ReadonlyArray<PendingEntry>
  /** Inbound QoS 2 packet ids received and not yet released, for exactly-once across reconnects. */
  readonly qos2Inbound: ReadonlyArray<number>
}

/**
 * A will kept with a persistent session so that a delayed will survives a broker restart.
 * `message` is opaque to the domain (the broker stores the message as an encoded log record).
 */
export interface StoredWill {
  readonly message: string
  /** Will Delay Interval, seconds. */
  readonly delay: number
}

export interface SessionState {
  readonly clientId: string
  readonly expiryInterval: number
  readonly subscriptions: ReadonlyMap<string, SubscriptionOptions>
  readonly checkpoint: Checkpoint | null
  /** Epoch ms of the last disconnect; null while connected. */
  readonly disconnectedAt: number | null
  /** The will of the last connection, until it is published or cleared. */
  readonly will: StoredWill | null
  /** Keys of the latest remnants merged from other nodes (RemnantMerged), newest last. */
  readonly merged: ReadonlyArray<string>
}

/** How many remnant keys a session remembers: a remnant is sent again within seconds, if at all. */
export const MERGED_KEYS_KEPT = 64

export const emptySession = (clientId: string, expiryInterval: number): SessionState => ({
  clientId,
  expiryInterval,
  subscriptions: new Map(),
  checkpoint: null,
  disconnectedAt: null,
  will: null,
  merged: []
})

/** Epoch ms when a disconnected session expires; Infinity when it never does. */
export const expiresAt = (state: SessionState): number =>
  state.disconnectedAt === null || state.expiryInterval === NEVER_EXPIRES
    ? Infinity
    : state.disconnectedAt + state.expiryInterval * 1000
