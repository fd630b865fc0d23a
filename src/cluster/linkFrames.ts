/**
 * Frames of the node-to-node link: `[u32 length][u8 type][body]`. A PUBLISH frame carries a
 * batch of messages as one RecordBatch (the log's own encoding: topic, QoS, retain, properties,
 * origin, expiry all travel as record headers), preceded by the share groups the sender picked
 * the receiver for, per message, as JSON (absent when none).
 */
import { decodeBatch, encodeBatch } from "../../domain/message/RecordBatch.js"
import type { MovedMessage, MovedSession } from "../mqtt/engine/handOver.js"
import { type Message, messageFromRecord } from "../mqtt/engine/Message.js"

export const FrameType = { Hello: 1, Publish: 2, TakeOver: 3, Session: 4, Push: 5, PushAck: 6 } as const

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
}

export const encodeTakeOver = (t: TakeOver): Buffer => jsonFrame(FrameType.TakeOver, t)
export const decodeTakeOver = (body: Buffer): TakeOver | null =>
  parseJson<TakeOver>(body, (t) => typeof t.id === "number" && typeof t.clientId === "string" && typeof t.epoch === "number")

/** The answer to a TakeOver: the session's state, or null (none there, or it ended with its connection). */
export interface SessionReply {
  readonly id: number
  readonly session: MovedSession | null
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
}

export const encodePushAck = (ack: PushAck): Buffer => jsonFrame(FrameType.PushAck, ack)
export const decodePushAck = (body: Buffer): PushAck | null => parseJson<PushAck>(body, (a) => typeof a.id === "number" && typeof a.ok === "boolean")

export const decodeSession = (body: Buffer): SessionReply | string => {
  if (body.byteLength < 4) return "short SESSION frame"
  const metaLength = body.readUInt32BE(0)
  if (4 + metaLength > body.byteLength) return "SESSION frame meta past its end"
  const meta = parseJson<{ id: number; session: (Omit<MovedSession, "owed"> & { owed: ReadonlyArray<MovedMeta> }) | null }>(
    body.subarray(4, 4 + metaLength),
    (m) => typeof m.id === "number"
  )
  if (meta === null) return "SESSION frame meta is not JSON"
  if (meta.session === null) return { id: meta.id, session: null }
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
    m.inboundPacketId = 0
  }
  return { id: meta.id, session: { ...meta.session, owed: owedMeta.map((o, i) => ({ ...o, message: messages[i]! })) } }
}

/** One PUBLISH frame for `messages`; `groups[i]` are the share groups message i goes to there. */
export const encodePublish = (messages: ReadonlyArray<Message>, groups: ReadonlyArray<ReadonlyArray<string>>): Buffer => {
  const meta = groups.some((g) => g.length > 0) ? Buffer.from(JSON.stringify(groups)) : Buffer.alloc(0)
  const metaLength = Buffer.allocUnsafe(4)
  metaLength.writeUInt32BE(meta.byteLength, 0)
  return frame(FrameType.Publish, [metaLength, meta, encodeBatch(0, messages)])
}

export interface Forwarded {
  readonly message: Message
  readonly groups: ReadonlyArray<string>
}

const NONE: ReadonlyArray<string> = []

/** The messages of a PUBLISH frame's body, or a string saying what is wrong with it. */
export const decodePublish = (body: Buffer): Array<Forwarded> | string => {
  if (body.byteLength < 4) return "short PUBLISH frame"
  const metaLength = body.readUInt32BE(0)
  if (4 + metaLength > body.byteLength) return "PUBLISH frame meta past its end"
  let groups: ReadonlyArray<ReadonlyArray<string>> = []
  if (metaLength > 0) {
    try {
      groups = JSON.parse(body.subarray(4, 4 + metaLength).toString("utf8")) as ReadonlyArray<ReadonlyArray<string>>
    } catch {
      return "PUBLISH frame meta is not JSON"
    }
  }
  const records = decodeBatch(body.subarray(4 + metaLength))
  if (typeof records === "string") return records
  const out: Array<Forwarded> = []
  for (let i = 0; i < records.length; i++) {
    const message = messageFromRecord(null, records[i]!)
    if (message === null) continue
    // What the sender stored with it concerns the sender's own sessions only.
    message.shareTargets = null
    message.inboundPacketId = 0
    out.push({ message, groups: groups[i] ?? NONE })
  }
  return out
}

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
