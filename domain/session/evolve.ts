/** Folds one session event into the session state. Pure; `undefined` means "no session". */
import { emptySession, MERGED_KEYS_KEPT, type SessionState } from "./Session.js"
import type { SessionEvent } from "./events.js"

export const evolve = (state: SessionState | undefined, event: SessionEvent): SessionState | undefined => {
  switch (event._tag) {
    case "SessionStarted":
      return emptySession(event.clientId, event.expiryInterval)
    case "SessionResumed":
      return state === undefined
        ? emptySession(event.clientId, event.expiryInterval)
        : { ...state, expiryInterval: event.expiryInterval, disconnectedAt: null }
    case "SessionEnded":
      return undefined
    case "SessionDisconnected":
      return state === undefined ? state : { ...state, disconnectedAt: event.at, expiryInterval: event.expiryInterval }
    case "SubscriptionAdded": {
      if (state === undefined) return state
      const subscriptions = new Map(state.subscriptions)
      subscriptions.set(event.filter, {
        qos: event.qos,
        noLocal: event.noLocal,
        retainAsPublished: event.retainAsPublished,
        retainHandling: event.retainHandling,
        subscriptionId: event.subscriptionId
      })
      return { ...state, subscriptions }
    }
    case "SubscriptionRemoved": {
      if (state === undefined || !state.subscriptions.has(event.filter)) return state
      const subscriptions = new Map(state.subscriptions)
      subscriptions.delete(event.filter)
      return { ...state, subscriptions }
    }
    case "WillSet":
      return state === undefined ? state : { ...state, will: { message: event.message, delay: event.delay } }
    case "WillCleared":
      return state === undefined || state.will === null ? state : { ...state, will: null }
    case "RemnantMerged":
      return state === undefined ? state : { ...state, merged: [...(state.merged ?? []), event.key].slice(-MERGED_KEYS_KEPT) }
    case "SessionCheckpointed":
      return state === undefined
        ? state
        : {
          ...state,
          checkpoint: { at: event.at, positions: event.positions, pending: event.pending, qos2Inbound: event.qos2Inbound }
        }
  }
}
