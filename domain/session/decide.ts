/**
 * Session deciders: pure functions from (state, command) to events and reason codes. The broker
 * persists the events (for persistent sessions) and folds them with `evolve`.
 */
import { ReasonCode } from "../ReasonCode.js"
import { parseShared, validateTopicFilter } from "../topic/TopicFilter.js"
import {
  RemnantMerged,
  SessionDisconnected,
  SessionEnded,
  type SessionEvent,
  SessionResumed,
  SessionStarted,
  SubscriptionAdded,
  SubscriptionRemoved,
  WillCleared,
  TRUSTED,
  WillSet
} from "./events.js"
import { expiresAt, type QoS, type SessionState, type StoredWill } from "./Session.js"

export interface Connect {
  readonly clientId: string
  readonly cleanStart: boolean
  readonly expiryInterval: number
  /** The new connection's will, if any (replaces the one kept from an earlier connection). */
  readonly will?: StoredWill | null
}

/** [MQTT-3.1.2-4..6] clean start discards any existing session; otherwise it is resumed. */
export const decideConnect = (state: SessionState | undefined, cmd: Connect) => {
  const events: Array<SessionEvent> = []
  let sessionPresent = false
  if (state !== undefined && cmd.cleanStart) {
    events.push(new SessionEnded({ clientId: cmd.clientId, reason: "clean-start" }, TRUSTED))
    events.push(new SessionStarted({ clientId: cmd.clientId, expiryInterval: cmd.expiryInterval }, TRUSTED))
  } else if (state !== undefined) {
    events.push(new SessionResumed({ clientId: cmd.clientId, expiryInterval: cmd.expiryInterval }, TRUSTED))
    sessionPresent = true
  } else {
    events.push(new SessionStarted({ clientId: cmd.clientId, expiryInterval: cmd.expiryInterval }, TRUSTED))
  }
  // [MQTT-3.1.3-9] a reconnect cancels the old will; the new connection brings its own.
  if (cmd.will) events.push(new WillSet({ clientId: cmd.clientId, message: cmd.will.message, delay: cmd.will.delay }, TRUSTED))
  else if (sessionPresent && state?.will) events.push(new WillCleared({ clientId: cmd.clientId }, TRUSTED))
  return { events, sessionPresent } as const
}

export interface SubscribeRequest {
  readonly filter: string
  readonly qos: number
  readonly noLocal: boolean
  readonly retainAsPublished: boolean
  readonly retainHandling: number
}

export interface Subscribe {
  readonly clientId: string
  readonly subscriptionId: number
  readonly requests: ReadonlyArray<SubscribeRequest>
  readonly maxTopicLevels: number
  readonly maxTopicLength: number
}

/**
 * One reason code per request: the granted QoS, or 0x8F for an invalid filter. A no-local
 * shared subscription is a protocol error for the whole packet [MQTT-3.8.3-4].
 */
export const decideSubscribe = (state: SessionState, cmd: Subscribe) => {
  const events: Array<SubscriptionAdded> = []
  const codes: Array<number> = []
  const existed: Array<boolean> = []
  let protocolError = 0
  for (const req of cmd.requests) {
    const shared = parseShared(req.filter)
    const plain = shared === null ? req.filter : typeof shared === "number" ? null : shared.filter
    if (plain === null || validateTopicFilter(plain, cmd.maxTopicLevels, cmd.maxTopicLength) !== 0) {
      codes.push(ReasonCode.TopicFilterInvalid)
      existed.push(false)
      continue
    }
    if (shared !== null && req.noLocal) protocolError = ReasonCode.ProtocolError
    const qos = (req.qos > 2 ? 2 : req.qos) as QoS
    existed.push(state.subscriptions.has(req.filter))
    events.push(
      new SubscriptionAdded({
        clientId: cmd.clientId,
        filter: req.filter,
        qos,
        noLocal: req.noLocal,
        retainAsPublished: req.retainAsPublished,
        retainHandling: (req.retainHandling > 2 ? 0 : req.retainHandling) as 0 | 1 | 2,
        subscriptionId: cmd.subscriptionId
      }, TRUSTED)
    )
    codes.push(qos)
  }
  return { events, codes, existed, protocolError } as const
}

export const decideUnsubscribe = (state: SessionState, clientId: string, filters: ReadonlyArray<string>) => {
  const events: Array<SubscriptionRemoved> = []
  const codes: Array<number> = []
  for (const filter of filters) {
    if (!state.subscriptions.has(filter)) {
      codes.push(ReasonCode.NoSubscriptionExisted)
      continue
    }
    events.push(new SubscriptionRemoved({ clientId, filter }, TRUSTED))
    codes.push(ReasonCode.Success)
  }
  return { events, codes } as const
}

/** A session with expiry 0 ends with its connection [MQTT-3.1.2-23]; others wait to expire. */
export const decideDisconnect = (state: SessionState, at: number, expiryInterval: number): SessionEvent =>
  expiryInterval === 0
    ? new SessionEnded({ clientId: state.clientId, reason: "not-persistent" }, TRUSTED)
    : new SessionDisconnected({ clientId: state.clientId, at, expiryInterval }, TRUSTED)

/** An operator deleted the session (admin API): it ends now, whatever its expiry. */
export const decideDelete = (state: SessionState): SessionEvent => new SessionEnded({ clientId: state.clientId, reason: "deleted" }, TRUSTED)

/** Another node took the session over with its state: it ends here (and stays ended after a restart). */
export const decideMove = (state: SessionState): SessionEvent => new SessionEnded({ clientId: state.clientId, reason: "moved" }, TRUSTED)

/** [MQTT-4.1.0-?] an expired session is discarded with all its state. */
export const decideExpire = (state: SessionState, now: number): SessionEvent | undefined =>
  expiresAt(state) <= now ? new SessionEnded({ clientId: state.clientId, reason: "expired" }, TRUSTED) : undefined

export interface MergeRemnant {
  readonly clientId: string
  /** Names the remnant (sender and what it sent): the same key twice is one remnant sent again. */
  readonly key: string
  readonly from: string
  readonly messages: number
}

/** Another node's remnant of this session is merged once: undefined when it was already. */
export const decideMergeRemnant = (state: SessionState, cmd: MergeRemnant): RemnantMerged | undefined =>
  (state.merged ?? []).includes(cmd.key)
    ? undefined
    : new RemnantMerged({ clientId: cmd.clientId, key: cmd.key, from: cmd.from, messages: cmd.messages }, TRUSTED)
