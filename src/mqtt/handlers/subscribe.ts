/**
 * SUBSCRIBE: each filter is refused by the ACL (0x87) or limits.max_subscriptions (0x97) before
 * the engine sees it, or subscribed by the engine (which answers 0x8F for an invalid filter).
 * SUBACK goes out once the subscriptions are stored, then the retained messages they match.
 */
import { ReasonCode, subackCodeV3 } from "../../../domain/ReasonCode.js"
import { parseShared, validateTopicFilter } from "../../../domain/topic/TopicFilter.js"
import type { ClientAcl } from "../../auth/ClientAcl.js"
import { encodeControl } from "../codec/encode.js"
import type { ISubscribePacket } from "../codec/packets.js"
import type { Connection } from "../Connection.js"
import type { LiveSession } from "../engine/LiveSession.js"

export const handleSubscribe = (conn: Connection, packet: ISubscribePacket, session: LiveSession): void => {
  const version = conn.version
  const subscriptionId = packet.properties?.subscriptionIdentifier
  const id = typeof subscriptionId === "number" ? subscriptionId : Array.isArray(subscriptionId) ? subscriptionId[0] ?? 0 : 0
  if (version === 5 && subscriptionId !== undefined && id === 0) return conn.fail(ReasonCode.ProtocolError)
  if (packet.subscriptions.length === 0) return conn.fail(ReasonCode.ProtocolError) // [MQTT-3.8.3-3]
  const requests = packet.subscriptions.map((s) => ({
    filter: s.topic,
    qos: s.qos,
    noLocal: version === 5 && s.nl === true,
    retainAsPublished: version === 5 ? s.rap === true : false,
    retainHandling: version === 5 ? (s.rh ?? 0) : 0
  }))
  const acl = conn.acl
  const refused = refusedFilters(conn, acl, session, requests)
  const allowed = refused === null ? requests : requests.filter((_, i) => !refused.has(i))
  const readCheckFor = acl === null ? undefined : (raw: string) => acl.readCheckFor(raw)
  const result = allowed.length > 0 ? conn.ctx.engine.subscribe(session, id, allowed, readCheckFor) : { codes: [], protocolError: 0, persist: null, retained: [] }
  if (result.protocolError !== 0) return conn.fail(result.protocolError)
  const messageId = packet.messageId!
  const suback = (stored: boolean) => {
    const engineCodes = stored ? result.codes : result.codes.map(() => ReasonCode.UnspecifiedError)
    const codes = refused === null ? engineCodes : withRefusals(engineCodes, refused, requests.length)
    const granted = version === 5 ? codes : codes.map(subackCodeV3)
    conn.writeFrame(encodeControl({ cmd: "suback", messageId, granted, ...(version === 5 ? { reasonCode: 0 } : {}) }, version))
    if (!stored) return
    // [MQTT-3.3.1-9] retained messages go out after the SUBACK, flagged retain.
    const subIds = id !== 0 ? [id] : null
    for (const [m, qos] of result.retained) session.deliverRetained(m, qos, subIds)
  }
  if (result.persist === null) suback(true)
  else conn.runControl(result.persist, suback)
}

/**
 * The requests (by index) refused before the engine sees them, with their reason code: a valid
 * filter the ACL does not grant (0x87), or a new one beyond limits.max_subscriptions (0x97).
 * Invalid filters are left to the engine, which answers 0x8F for them.
 */
const refusedFilters = (
  conn: Connection,
  acl: ClientAcl | null,
  session: LiveSession,
  requests: ReadonlyArray<{ readonly filter: string }>
): Map<number, number> | null => {
  const limits = conn.ctx.config.limits
  let refused: Map<number, number> | null = null
  let count = session.subscriptions.size
  const added = new Set<string>()
  for (let i = 0; i < requests.length; i++) {
    const raw = requests[i]!.filter
    const shared = parseShared(raw)
    const plain = shared === null ? raw : typeof shared === "number" ? null : shared.filter
    if (plain === null || validateTopicFilter(plain, limits.maxTopicLevels, limits.maxTopicLength) !== 0) continue
    if (acl !== null && !acl.maySubscribe(raw)) (refused ??= new Map()).set(i, ReasonCode.NotAuthorized)
    else if (limits.maxSubscriptions !== 0 && !session.subscriptions.has(raw) && !added.has(raw)) {
      if (count >= limits.maxSubscriptions) {
        ;(refused ??= new Map()).set(i, ReasonCode.QuotaExceeded)
        conn.ctx.overload.subscriptionQuotaRefusals++
      } else {
        count++
        added.add(raw)
      }
    }
  }
  return refused
}

/** SUBACK codes in request order: the refusal's code where one was refused, the engine's elsewhere. */
const withRefusals = (granted: ReadonlyArray<number>, refused: ReadonlyMap<number, number>, count: number): Array<number> => {
  const out: Array<number> = []
  let next = 0
  for (let i = 0; i < count; i++) out.push(refused.get(i) ?? granted[next++]!)
  return out
}
