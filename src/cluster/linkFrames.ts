/**
 * Frames of the node-to-node link: `[u32 length][u8 type][body]`. A PUBLISH frame carries a
 * batch of messages as one RecordBatch (the log's own encoding: topic, QoS, retain, properties,
 * origin, expiry all travel as record headers), preceded by the share groups the sender picked
 * the receiver for, per message, as JSON (absent when none).
 */
import { decodeBatch, encodeBatch } from "../../domain/message/RecordBatch.js"
import type { MovedMessage, MovedSession } from "../mqtt/engine/handOver.js"
import { type Message, messageFromRecord } from "../mqtt/engine/Message.js"

export const FrameType = { Hello: 1, Publish: 2, TakeOver: 3, Session: 4, Push: 5, PushAck: 6, CatchUp: 7, Replay: 8, Remnant: 9, SessionCatchUp: 10, SessionReplay: 11, Stored: 12 } as const

/** Frames above this are refused (and the link closed): a batch is flushed well below it. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024

const frame = (type: number, body: ReadonlyArray<Uint8Array>): Buffer => {
  let size = 1
  for (const b of body) size += b.byteLength
  const head = Buffer.allocUnsafe(5)
  head.writeUInt32BE(size, 0)
  head.writeUInt8(type, 4)
  return Buffer.concat([head, ...body])
}

export interface Hello {
  readonly node: string
  readonly startedAt: number
  /** With cluster.secret: when it was sent, and the proof (linkSecret.ts). */
  readonly at?: number
  readonly mac?: string
}

const jsonFrame = (type: number, value: unknown): Buffer => frame(type, [Buffer.from(JSON.stringify(value))])

const parseJson = <A>(body: Buffer, valid: (a: A) => boolean): A | null => {
  try {
    const a = JSON.parse(body.toString("utf8")) as A
    return typeof a === "object" && a !== null && valid(a) ? a : null
  } catch {
    return null
  }
}

export const encodeHello = (hello: Hello): Buffer => jsonFrame(FrameType.Hello, hello)
export const decodeHello = (body: Buffer): Hello | null => parseJson<Hello>(body, (h) => typeof h.node === "string")

/** "Hand me client `clientId`'s session: I own it now, at `epoch`." Answered by a Session frame with the same id. */
export interface TakeOver {
  readonly id: number
  readonly clientId: string
  readonly epoch: number
  /** The new connection asked for a Clean Start: end the session there (its delayed will goes out) and send nothing. */
  readonly cleanStart?: boolean
}

export const encodeTakeOver = (t: TakeOver): Buffer => jsonFrame(FrameType.TakeOver, t)
export const decodeTakeOver = (body: Buffer): TakeOver | null =>
  parseJson<TakeOver>(body, (t) => typeof t.id === "number" && typeof t.clientId === "string" && typeof t.epoch === "number")

/** The answer to a TakeOver: the session's state, or null (none there, or it ended with its connection). */
export interface SessionReply {
  readonly id: number
  readonly session: MovedSession | null
  /** A Remnant frame's name for what it carries (see Remnant). */
  readonly key?: string
  /** A Remnant frame's node on whose behalf it is sent (see Remnant). */
  readonly origin?: string
}

type MovedMeta = Omit<MovedMessage, "message">

/**
 * [u32 meta length][meta JSON][RecordBatch of the owed messages]: the answer to a TakeOver, or
 * (type Push) a session a stopping node hands to this one unasked.
 */
export const encodeSession = (reply: SessionReply, type: number = FrameType.Session): Buffer => {
  const s = reply.session
  const meta = Buffer.from(JSON.stringify({
    id: reply.id,
    ...(reply.key === undefined ? {} : { key: reply.key }),
    ...(reply.origin === undefined ? {} : { origin: reply.origin }),
    session: s === null ? null : { ...s, owed: s.owed.map(({ message: _, ...rest }): MovedMeta => rest) }
  }))
  const metaLength = Buffer.allocUnsafe(4)
  metaLength.writeUInt32BE(meta.byteLength, 0)
  const messages = s === null || s.owed.length === 0 ? [] : [encodeBatch(0, s.owed.map((o) => o.message))]
  return frame(type, [metaLength, meta, ...messages])
}

/** "Stored the session you pushed" (or could not: `ok` false). */
export interface PushAck {
  readonly id: number
  readonly ok: boolean
  /**
   * "Stored" for a session fetched by a TAKEOVER (id: that request's) rather than pushed.
   */
  readonly takeover?: boolean
  /**
   * Where the storing node stood when it stored the session: per sender node, per partition of
   * its log, the offset from which that sender's messages arrive after (its own log's ends under
   * its own id). The old holder passes on only what arrived before (MovedRoutes).
   */
  readonly arrived?: Record<string, Record<string, number>>
}

export const encodePushAck = (ack: PushAck): Buffer => jsonFrame(FrameType.PushAck, ack)
export const decodePushAck = (body: Buffer): PushAck | null => parseJson<PushAck>(body, (a) => typeof a.id === "number" && typeof a.ok === "boolean")

export const decodeSession = (body: Buffer): SessionReply | string => {
  if (body.byteLength < 4) return "short SESSION frame"
  const metaLength = body.readUInt32BE(0)
  if (4 + metaLength > body.byteLength) return "SESSION frame meta past its end"
  const meta = parseJson<{ id: number; key?: string; origin?: string; session: (Omit<MovedSession, "owed"> & { owed: ReadonlyArray<MovedMeta> }) | null }>(
    body.subarray(4, 4 + metaLength),
    (m) => typeof m.id === "number"
  )
  if (meta === null) return "SESSION frame meta is not JSON"
  const key = { ...(typeof meta.key === "string" ? { key: meta.key } : {}), ...(typeof meta.origin === "string" ? { origin: meta.origin } : {}) }
  if (meta.session === null) return { id: meta.id, session: null, ...key }
  const owedMeta = meta.session.owed
  let messages: Array<Message> = []
  if (owedMeta.length > 0) {
    const records = decodeBatch(body.subarray(4 + metaLength))
    if (typeof records === "string") return records
    messages = records.map((r) => messageFromRecord(null, r)).filter((m): m is Message => m !== null)
    if (messages.length !== owedMeta.length) return `SESSION frame has ${messages.length} messages for ${owedMeta.length} entries`
  }
  for (const m of messages) {
    m.shareTargets = null
    m.shareForwards = null
    m.inboundPacketId = 0
  }
  return { id: meta.id, session: { ...meta.session, owed: owedMeta.map((o, i) => ({ ...o, message: messages[i]! })) }, ...key }
}

/**
 * "Your session `clientId` is owed these messages: this node held it while it was down, and it
 * resumed on you meanwhile" (src/cluster/Remnants.ts). `key` names this part of the remnant, so
 * one sent again is merged once. Answered by a PushAck with the same id.
 */
export interface Remnant {
  readonly id: number
  readonly key: string
  readonly clientId: string
  readonly owed: ReadonlyArray<MovedMessage>
  /**
   * The node whose session (and log positions) this was, when not the sender: a worker sending
   * what its dead sibling's session owed, from the sibling's data directory (GhostRemnants).
   * Absent (older senders too): the sender's own.
   */
  readonly origin?: string
}

/** A SESSION frame's layout, type Remnant: the remnant as a session with only messages. */
export const encodeRemnant = (r: Remnant): Buffer =>
  encodeSession({
    id: r.id,
    key: r.key,
    ...(r.origin === undefined ? {} : { origin: r.origin }),
    session: { clientId: r.clientId, expiryInterval: 0, subscriptions: [], owed: r.owed, qos2Inbound: [] }
  }, FrameType.Remnant)

export const decodeRemnant = (body: Buffer): Remnant | string => {
  const reply = decodeSession(body)
  if (typeof reply === "string") return reply
  if (reply.session === null || reply.key === undefined) return "a REMNANT frame without its session or key"
  const origin = reply.origin === undefined ? {} : { origin: reply.origin }
  return { id: reply.id, key: reply.key, clientId: reply.session.clientId, owed: reply.session.owed, ...origin }
}

/**
 * What a batch covers of one of the sender's log partitions: every record in [from, to) (end
 * offsets) that matched the receiver's routes is in this batch or an earlier one on the same
 * connection. `from` -1: the first batch of a connection (the receiver cannot tell what it missed
 * before it, so it asks for everything since what it has).
 */
export interface Coverage {
  readonly tp: string
  readonly from: number
  readonly to: number
}

/** A forwarded message and where it sits in the sender's log (null: not logged, QoS 0). */
export interface Forwarded {
  readonly message: Message
  readonly groups: ReadonlyArray<string>
  readonly tp: string | null
  readonly offset: number
}

export interface PublishBatch {
  readonly messages: ReadonlyArray<Forwarded>
  readonly coverage: ReadonlyArray<Coverage>
  /** The etcd revision of the sender's route table when it routed them (-1: not said). */
  readonly revision: number
  /** SESSIONREPLAY only: the SESSIONCATCHUP it answers, and whether it is the last part. */
  readonly request?: number
  readonly done?: boolean
  /** SESSIONREPLAY only: per partition, below where the dead node had said it stored what it was sent (STORED). */
  readonly held?: ReadonlyMap<string, number>
}

interface PublishMeta {
  /** Share groups per message (0: none); absent when no message has any. */
  readonly g?: ReadonlyArray<ReadonlyArray<string> | 0>
  /** Partition names the positions below refer to. */
  readonly t: ReadonlyArray<string>
  /** Per message: index into `t` and offset, flat; -1, -1 for a message not in the log. */
  readonly p: ReadonlyArray<number>
  /** Coverage as [index into `t`, from, to] triples, flat. */
  readonly c: ReadonlyArray<number>
  /** The sender's route table revision when it routed the first of these messages. */
  readonly r?: number
  /** SESSIONREPLAY: the request id, and 1 on the last part. */
  readonly k?: number
  readonly d?: 1
  /** SESSIONREPLAY: [index into `t`, offset] pairs, flat (PublishBatch.held). */
  readonly h?: ReadonlyArray<number>
}

const NONE: ReadonlyArray<string> = []

/**
 * One PUBLISH (or, for a catch-up, REPLAY) frame: `[u32 meta length][meta JSON][RecordBatch]`.
 * `groups[i]` are the share groups message i goes to there.
 */
export const encodePublish = (
  messages: ReadonlyArray<Message>,
  groups: ReadonlyArray<ReadonlyArray<string>>,
  coverage: ReadonlyArray<Coverage>,
  type: number = FrameType.Publish,
  revision = -1,
  answer: { readonly request: number; readonly done: boolean; readonly held?: ReadonlyMap<string, number> } | null = null
): Buffer => {
  const names: Array<string> = []
  const index = (tp: string) => {
    const i = names.indexOf(tp)
    return i >= 0 ? i : names.push(tp) - 1
  }
  const p: Array<number> = []
  for (const m of messages) {
    if (m.tp === null) p.push(-1, -1)
    else p.push(index(m.tp), m.offset)
  }
  const c: Array<number> = []
  for (const cv of coverage) c.push(index(cv.tp), cv.from, cv.to)
  const h: Array<number> = []
  for (const [tp, offset] of answer?.held ?? []) h.push(index(tp), offset)
  const base: PublishMeta = {
    t: names,
    p,
    c,
    r: revision,
    ...(answer === null ? {} : { k: answer.request, ...(answer.done ? { d: 1 as const } : {}), ...(h.length > 0 ? { h } : {}) })
  }
  const meta: PublishMeta = groups.some((g) => g.length > 0) ? { g: groups.map((g) => (g.length === 0 ? 0 : g)), ...base } : base
  const metaBytes = Buffer.from(JSON.stringify(meta))
  const metaLength = Buffer.allocUnsafe(4)
  metaLength.writeUInt32BE(metaBytes.byteLength, 0)
  return frame(type, messages.length === 0 ? [metaLength, metaBytes] : [metaLength, metaBytes, encodeBatch(0, messages)])
}

/**
 * STORED: "what you forwarded me is durable in my log up to here", per partition of the
 * receiver's (the addressee's) log, sent once each group commit that holds it is written and
 * before the messages it made durable are delivered at QoS 2 (LinkCatchUp). If this node dies,
 * the addressee knows what it held (SessionCatchUp).
 */
export const encodeStored = (positions: ReadonlyMap<string, number>): Buffer => jsonFrame(FrameType.Stored, [...positions])

export const decodeStored = (body: Buffer): Map<string, number> | null => {
  const pairs = parseJson<Array<[string, number]>>(body, (a) => Array.isArray(a) && a.every((e) => Array.isArray(e) && typeof e[0] === "string" && Number.isSafeInteger(e[1])))
  return pairs === null ? null : new Map(pairs)
}

/** The messages and coverage of a PUBLISH or REPLAY frame's body, or a string saying what is wrong with it. */
export const decodePublish = (body: Buffer): PublishBatch | string => {
  if (body.byteLength < 4) return "short PUBLISH frame"
  const metaLength = body.readUInt32BE(0)
  if (4 + metaLength > body.byteLength) return "PUBLISH frame meta past its end"
  const meta = parseJson<PublishMeta>(body.subarray(4, 4 + metaLength), (m) => Array.isArray(m.t) && Array.isArray(m.p) && Array.isArray(m.c))
  if (meta === null) return "PUBLISH frame meta is not JSON"
  const coverage: Array<Coverage> = []
  for (let i = 0; i + 2 < meta.c.length; i += 3) coverage.push({ tp: meta.t[meta.c[i]!]!, from: meta.c[i + 1]!, to: meta.c[i + 2]! })
  const out: Array<Forwarded> = []
  const revision = Number.isSafeInteger(meta.r) ? meta.r! : -1
  const held = new Map<string, number>()
  if (Array.isArray(meta.h)) {
    for (let i = 0; i + 1 < meta.h.length; i += 2) {
      const tp = meta.t[meta.h[i]!]
      if (typeof tp === "string" && Number.isSafeInteger(meta.h[i + 1])) held.set(tp, meta.h[i + 1]!)
    }
  }
  const answer = Number.isSafeInteger(meta.k) ? { request: meta.k!, done: meta.d === 1, ...(held.size > 0 ? { held } : {}) } : {}
  if (4 + metaLength === body.byteLength) return { messages: out, coverage, revision, ...answer }
  const records = decodeBatch(body.subarray(4 + metaLength))
  if (typeof records === "string") return records
  for (let i = 0; i < records.length; i++) {
    const message = messageFromRecord(null, records[i]!)
    if (message === null) continue
    // What the sender stored with it concerns the sender's own sessions only.
    message.shareTargets = null
    message.shareForwards = null
    message.inboundPacketId = 0
    const g = meta.g?.[i]
    const at = meta.p[2 * i] ?? -1
    out.push({ message, groups: g === undefined || g === 0 ? NONE : g, tp: at < 0 ? null : meta.t[at]!, offset: meta.p[2 * i + 1] ?? -1 })
  }
  return { messages: out, coverage, revision, ...answer }
}

/**
 * "Send me again what matched my routes in [from, to) of your partition `tp`": a gap after a
 * lost link or a restart. The routes travel with the request (plain filters, and
 * `$share/<group>/<filter>` for the share groups: a message whose recorded pick named the
 * requester for one of them comes again, with those groups), so the answer does not depend on
 * how far the sender follows the requester's route summary.
 */
export interface CatchUp {
  readonly tp: string
  readonly from: number
  readonly to: number
  readonly filters: ReadonlyArray<string>
}

const isFilterList = (filters: unknown): boolean => Array.isArray(filters) && filters.every((f) => typeof f === "string")

export const encodeCatchUp = (c: CatchUp): Buffer => jsonFrame(FrameType.CatchUp, c)
export const decodeCatchUp = (body: Buffer): CatchUp | null =>
  parseJson<CatchUp>(
    body,
    (c) =>
      typeof c.tp === "string" && Number.isSafeInteger(c.from) && Number.isSafeInteger(c.to) && c.from >= 0 && c.to >= c.from &&
      isFilterList(c.filters)
  )

/**
 * "A session I resumed from the directory was held by `dead`, which died: send me what you
 * routed to `dead` for these filters that it may never have got" (see SessionCatchUp.ts).
 * Answered by SESSIONREPLAY frames carrying `id`, the last one marked done.
 */
export interface SessionCatchUpRequest {
  readonly id: number
  readonly clientId: string
  readonly dead: string
  readonly filters: ReadonlyArray<string>
}

export const encodeSessionCatchUp = (r: SessionCatchUpRequest): Buffer => jsonFrame(FrameType.SessionCatchUp, r)
export const decodeSessionCatchUp = (body: Buffer): SessionCatchUpRequest | null =>
  parseJson<SessionCatchUpRequest>(
    body,
    (r) =>
      Number.isSafeInteger(r.id) && typeof r.clientId === "string" && typeof r.dead === "string" && isFilterList(r.filters)
  )

/** Splits a stream of bytes into frames: feed it chunks, it calls `onFrame(type, body)`. */
export class FrameSplitter {
  private pending: Buffer | null = null
  constructor(private readonly onFrame: (type: number, body: Buffer) => void, private readonly onError: (reason: string) => void) {}

  push(chunk: Buffer): void {
    let buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk])
    this.pending = null
    while (buf.byteLength >= 5) {
      const size = buf.readUInt32BE(0)
      if (size < 1 || size > MAX_FRAME_BYTES) return this.onError(`frame of ${size} bytes`)
      if (buf.byteLength < 4 + size) break
      this.onFrame(buf.readUInt8(4), buf.subarray(5, 4 + size))
      buf = buf.subarray(4 + size)
    }
    if (buf.byteLength > 0) this.pending = buf
  }
}
