/**
 * One application message inside the broker: what a PUBLISH (or a will, or a log record read
 * back) carries, plus where it sits in the log. It is also the LogRecord appended to the
 * MessageLog: key, value and headers are computed lazily, at flush time, so the publish path
 * allocates nothing for storage. Outbound PUBLISH frames are encoded once per variant
 * (protocol x QoS x retain flag) and shared by every subscriber of that variant.
 */
import type { TopicPartition } from "../../../domain/ids.js"
import type { LogRecord, RecordHeader, StoredRecord } from "../../../domain/message/LogRecord.js"
import { decodeBatch, encodeBatch, sharedHeader } from "../../../domain/message/RecordBatch.js"
import type { QoS } from "../../../domain/session/Session.js"
import { unpinned } from "../../net/unpinned.js"
import type { Outlet } from "./LiveSession.js"
import { encodePublish, encodePublishProperties, publishPacketIdOffset } from "../codec/encode.js"
import { type PublishProperties, PublishProps, type UserProperties } from "../codec/packets.js"

const TOPIC_HEADER = "mqtt.topic"
const QOS_HEADER = "mqtt.qos"
const RETAIN_HEADER = "mqtt.retain"
const ORIGIN_HEADER = "mqtt.origin"
const EXPIRES_HEADER = "mqtt.expires-at"
const CONTENT_TYPE_HEADER = "mqtt.content-type"
const PAYLOAD_FORMAT_HEADER = "mqtt.payload-format"
const RESPONSE_TOPIC_HEADER = "mqtt.response-topic"
const CORRELATION_HEADER = "mqtt.correlation-data"
/** The packet id of an inbound QoS 2 PUBLISH from a persistent session (see ProgressJournal). */
const PACKET_ID_HEADER = "mqtt.packet-id"
/** A persistent share-group member this message was routed to: QoS digit + client id. */
const SHARE_TARGET_HEADER = "mqtt.share-target"
/**
 * A share-group pick this node made for another node: `<node>\0<group>/<filter>[\0...]` (a
 * filter never holds U+0000 [MQTT-4.7.3-2]). Kept with the message, so a catch-up that node asks
 * for after a lost link replays the pick (src/cluster/CatchUpReplay.ts).
 */
const SHARE_FORWARD_HEADER = "mqtt.share-forward"
/** Separates the node and its groups in a `mqtt.share-forward` value. */
export const SHARE_FORWARD_SEPARATOR = "\u0000"
/**
 * On a message another node forwarded: its own log has it too, so a catch-up this node answers
 * (src/cluster/CatchUpReplay.ts) never sends it on a second time.
 */
const VIA_HEADER = "mqtt.via"
/**
 * Header names: the broker's own all start with `mqtt.`; a user property keeps its name, unless
 * that name starts with `mqtt.` too, in which case it is stored under `mqtt.user.` + name, so
 * that reading a record back never mistakes one for the other.
 */
const RESERVED_PREFIX = "mqtt."
const ESCAPED_USER_PREFIX = "mqtt.user."
const userHeaderKey = (name: string): string => (name.startsWith(RESERVED_PREFIX) ? ESCAPED_USER_PREFIX + name : name)
const DIGITS = [Buffer.from("0"), Buffer.from("1"), Buffer.from("2")]
/** Shared, never mutated: every message's QoS header is one of these three. */
const QOS_HEADERS: ReadonlyArray<RecordHeader> = DIGITS.map((value) => sharedHeader(QOS_HEADER, value))
const RETAINED = sharedHeader(RETAIN_HEADER, DIGITS[1]!)
const VIA = sharedHeader(VIA_HEADER, DIGITS[1]!)
/** Packet id headers, made on first use: a publisher cycles through the same few ids. */
const packetIdHeaders: Array<RecordHeader | undefined> = []
const packetIdHeader = (id: number): RecordHeader =>
  (packetIdHeaders[id] ??= sharedHeader(PACKET_ID_HEADER, Buffer.from(String(id))))

/** The origin header of a publisher, built once per connection rather than once per message. */
export const originHeader = (clientId: string): RecordHeader => sharedHeader(ORIGIN_HEADER, Buffer.from(clientId))

/**
 * A topic's `mqtt.topic` header, whose value is also the record key (the topic's UTF-8 bytes).
 * Devices publish to the same few topics again and again, so these are cached (bounded;
 * cleared when full): measured 3% of broker CPU on pairs-qos1 as a fresh Buffer.from per record.
 * The cached header and bytes are shared: never mutated.
 */
const topicCache = new Map<string, RecordHeader>()
/** encodeBatch reads a record's key, then its headers: the second lookup is this memo. */
let lastTopic: string | null = null
let lastHeader: RecordHeader | null = null
const topicHeader = (topic: string): RecordHeader => {
  if (topic === lastTopic) return lastHeader!
  let header = topicCache.get(topic)
  if (header === undefined) {
    if (topicCache.size >= 10_000) topicCache.clear()
    header = sharedHeader(TOPIC_HEADER, Buffer.from(topic, "utf8"))
    topicCache.set(topic, header)
  }
  lastTopic = topic
  lastHeader = header
  return header
}

export class Message implements LogRecord {
  /** Where the message was appended; null when it bypassed the log (QoS 0, not retained). */
  tp: TopicPartition | null = null
  offset = -1
  /**
   * Frames cached by variant, key (v5 ? 6 : 0) + qos * 2 + retain: the first variant in a field
   * (most messages only ever need one), the others in an array made on demand.
   */
  private frame0: Buffer | null = null
  private frame0Key = -1
  private frames: Array<Buffer | undefined> | null = null
  /** Sessions the last route() delivered to: with one, QoS > 0 frames skip the shared copy. */
  fanout = 0
  private propsV5: Buffer | null | undefined = undefined
  /** The publisher's cached origin header (set by its connection), or null to build one. */
  originHeader: RecordHeader | null = null
  /**
   * The packet id of the QoS 2 PUBLISH that brought it, from a persistent session (else 0):
   * stored with the message, so a crash can never keep one without the other.
   */
  inboundPacketId = 0
  /**
   * Persistent share-group members it was routed to, as QoS digit + client id (else null):
   * stored with the message, so a crash cannot keep the message and lose which member owes it.
   */
  shareTargets: Array<string> | null = null
  /**
   * Share-group picks of other nodes it was forwarded to, each `<node>\0<groupKey>[\0...]` (else
   * null): stored with the message, so a catch-up can send a share group's message again.
   */
  shareForwards: Array<string> | null = null
  /**
   * For a message another node forwarded: the share groups (`<group>/<filter>`) that node picked
   * this one for; null for a message published here.
   */
  forwardedGroups: ReadonlyArray<string> | null = null
  /** Read back from a record another node forwarded (it carries `mqtt.via`). */
  relayed = false
  /**
   * Appended to the log as itself (Engine.publish), so its headers, shareTargets included, are
   * written when its batch is sealed; false for a copy read back from a record.
   */
  appended = false

  constructor(
    readonly topic: string,
    public payload: Buffer,
    readonly qos: QoS,
    readonly retain: boolean,
    /** v5 properties to forward (never a topic alias or subscription identifiers); null if none. */
    readonly properties: PublishProperties | null,
    /** Epoch ms after which the message must not be delivered; 0 = never [MQTT-3.3.2-5]. */
    readonly expiresAt: number,
    /** Client id of the publisher ("" for the broker itself), for no-local [MQTT-3.8.3-3]. */
    readonly origin: string,
    readonly timestamp: number
  ) {}

  /** The topic's UTF-8 bytes, shared with its log header (cached per topic): frames copy them. */
  private topicBytes(): Buffer {
    return topicHeader(this.topic).value as Buffer
  }

  /** Copies the payload if it is a small view into a larger (socket) buffer it would pin. */
  ownPayload(): void {
    this.payload = unpinned(this.payload)
  }

  isExpired(now: number): boolean {
    return this.expiresAt !== 0 && this.expiresAt <= now
  }

  /**
   * Hot path: the PUBLISH frame for one variant, with packet id 0 (the caller copies and patches
   * it for QoS > 0). Subscription identifiers or a counting-down expiry make a frame unshareable.
   */
  frame(version: number, qos: number, retain: boolean, subscriptionIds: ReadonlyArray<number> | null): Buffer {
    const v5 = version === 5
    if (v5 && (subscriptionIds !== null || this.expiresAt !== 0)) {
      return encodePublish(5, this.topicBytes(), this.payload, qos, retain, false, 0, this.v5Properties(subscriptionIds, null))
    }
    const key = (v5 ? 6 : 0) + qos * 2 + (retain ? 1 : 0)
    if (key === this.frame0Key) return this.frame0!
    let frame: Buffer | undefined
    if (this.frame0 === null) {
      frame = this.frame0 = this.encode(v5, qos, retain)
      this.frame0Key = key
      return frame
    }
    const frames = this.frames ?? (this.frames = new Array<Buffer | undefined>(12))
    frame = frames[key]
    if (frame === undefined) frames[key] = frame = this.encode(v5, qos, retain)
    return frame
  }

  private encode(v5: boolean, qos: number, retain: boolean): Buffer {
    return encodePublish(v5 ? 5 : 4, this.topicBytes(), this.payload, qos, retain, false, 0, v5 ? this.v5Properties(null, null) : null)
  }

  /**
   * Hot path: a QoS > 0 frame of one's own, carrying `packetId` (and DUP). A message routed to one
   * session is encoded straight into it; otherwise the shared variant is copied and patched.
   */
  frameWithPacketId(conn: Outlet, qos: number, retain: boolean, subscriptionIds: ReadonlyArray<number> | null, packetId: number, dup: boolean): Buffer {
    const v5 = conn.version === 5
    if (this.fanout <= 1 && this.frame0 === null && conn.topicAliasMaximum === 0 && !(v5 && (subscriptionIds !== null || this.expiresAt !== 0))) {
      return encodePublish(v5 ? 5 : 4, this.topicBytes(), this.payload, qos, retain, dup, packetId, v5 ? this.v5Properties(null, null) : null)
    }
    const shared = this.frameFor(conn, qos, retain, subscriptionIds)
    const frame = Buffer.allocUnsafe(shared.length)
    shared.copy(frame)
    frame.writeUInt16BE(packetId, publishPacketIdOffset(frame))
    if (dup) frame[0] = frame[0]! | 0x08
    return frame
  }

  /**
   * The frame for a connection: the shared variant, or, for a v5 client that accepts topic
   * aliases [MQTT-3.3.2-10..12], one of its own carrying the alias (and no topic once the
   * alias is known to the client).
   */
  frameFor(conn: Outlet, qos: number, retain: boolean, subscriptionIds: ReadonlyArray<number> | null): Buffer {
    if (conn.topicAliasMaximum === 0) return this.frame(conn.version, qos, retain, subscriptionIds)
    const alias = conn.topicAlias(this.topic)
    if (alias === 0) return this.frame(conn.version, qos, retain, subscriptionIds)
    const topic = alias > 0 ? "" : this.topic
    return encodePublish(5, topic, this.payload, qos, retain, false, 0, this.v5Properties(subscriptionIds, alias > 0 ? alias : -alias))
  }

  private v5Properties(subscriptionIds: ReadonlyArray<number> | null, topicAlias: number | null): Buffer | null {
    if (subscriptionIds === null && this.expiresAt === 0 && topicAlias === null) {
      if (this.propsV5 === undefined) this.propsV5 = encodePublishProperties(this.properties, null)
      return this.propsV5
    }
    let props = this.properties
    if (this.expiresAt !== 0 || topicAlias !== null) {
      const copy = Object.assign(new PublishProps(), props)
      // [MQTT-3.3.2-6] forward the remaining lifetime, not the original interval.
      if (this.expiresAt !== 0) copy.messageExpiryInterval = Math.max(1, Math.ceil((this.expiresAt - Date.now()) / 1000))
      if (topicAlias !== null) copy.topicAlias = topicAlias
      props = copy
    }
    return encodePublishProperties(props, subscriptionIds)
  }

  // LogRecord, read once when the batch holding this message is sealed.
  get key(): Uint8Array {
    return topicHeader(this.topic).value!
  }
  get value(): Uint8Array {
    return this.payload
  }
  get headers(): ReadonlyArray<RecordHeader> {
    // The topic is the key too; the header keeps it when a Kafka pipeline re-keys the record.
    const h: Array<RecordHeader> = [topicHeader(this.topic), QOS_HEADERS[this.qos]!]
    if (this.retain) h.push(RETAINED)
    // Forwarded here, or read back as such (a remnant carries it on): another node's to replay.
    if (this.forwardedGroups !== null || this.relayed) h.push(VIA)
    if (this.originHeader !== null) h.push(this.originHeader)
    else if (this.origin !== "") h.push(originHeader(this.origin))
    if (this.inboundPacketId !== 0) h.push(packetIdHeader(this.inboundPacketId))
    if (this.shareTargets !== null) for (const t of this.shareTargets) h.push({ key: SHARE_TARGET_HEADER, value: Buffer.from(t) })
    if (this.shareForwards !== null) for (const t of this.shareForwards) h.push({ key: SHARE_FORWARD_HEADER, value: Buffer.from(t) })
    if (this.expiresAt !== 0) h.push({ key: EXPIRES_HEADER, value: Buffer.from(String(this.expiresAt)) })
    const p = this.properties
    if (p !== null) {
      if (p.contentType !== undefined) h.push({ key: CONTENT_TYPE_HEADER, value: Buffer.from(p.contentType) })
      if (p.payloadFormatIndicator !== undefined) h.push({ key: PAYLOAD_FORMAT_HEADER, value: DIGITS[p.payloadFormatIndicator ? 1 : 0]! })
      if (p.responseTopic !== undefined) h.push({ key: RESPONSE_TOPIC_HEADER, value: Buffer.from(p.responseTopic) })
      if (p.correlationData !== undefined) h.push({ key: CORRELATION_HEADER, value: p.correlationData })
      if (p.userProperties !== undefined) {
        for (const [key, value] of p.userProperties) h.push({ key: userHeaderKey(key), value: Buffer.from(value) })
      }
    }
    return h
  }
}

const text = (v: Uint8Array | null): string => (v === null ? "" : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("utf8"))

/**
 * Messages kept outside the log (a will in a WillSet event, the retained set in a snapshot) are
 * stored as one RecordBatch in base64: the same encoding the log uses, so one decoder serves.
 */
export const messagesToText = (messages: ReadonlyArray<Message>): string =>
  Buffer.from(encodeBatch(0, messages)).toString("base64")

/** The messages of `messagesToText`, not tied to a log position; a string when it does not decode. */
export const messagesFromText = (text: string): Array<Message> | string => {
  const records = decodeBatch(Buffer.from(text, "base64"))
  if (typeof records === "string") return records
  const out: Array<Message> = []
  for (const r of records) {
    const m = messageFromRecord(null, r)
    if (m !== null) out.push(m)
  }
  return out
}

/**
 * Rebuilds a message from a log record (restart, session backlog, Kafka-produced records).
 * `topic` is the MQTT topic (StreamMapping.mqttTopicOf); by default the record key. A record
 * without an `mqtt.qos` header was written by a Kafka client: it is a QoS 1 message (it is in
 * the log, so it can be delivered at least once). Null if there is no topic.
 */
export const messageFromRecord = (tp: TopicPartition | null, record: StoredRecord, topic?: string): Message | null => {
  if (topic === undefined && record.key === null) return null
  let qos: QoS = 1
  let retain = false
  let origin = ""
  let expiresAt = 0
  let packetId = 0
  let shareTargets: Array<string> | null = null
  let shareForwards: Array<string> | null = null
  let relayed = false
  let props: PublishProps | null = null
  const ensure = () => (props ??= new PublishProps())
  for (const { key, value } of record.headers) {
    switch (key) {
      case QOS_HEADER:
        qos = Number(text(value)) as QoS
        break
      case RETAIN_HEADER:
        retain = true
        break
      case ORIGIN_HEADER:
        origin = text(value)
        break
      case EXPIRES_HEADER:
        expiresAt = Number(text(value))
        break
      case PACKET_ID_HEADER:
        packetId = Number(text(value)) & 0xffff
        break
      case SHARE_TARGET_HEADER:
        ;(shareTargets ??= []).push(text(value))
        break
      case SHARE_FORWARD_HEADER:
        ;(shareForwards ??= []).push(text(value))
        break
      case VIA_HEADER:
        relayed = true
        break
      case CONTENT_TYPE_HEADER:
        ensure().contentType = text(value)
        break
      case PAYLOAD_FORMAT_HEADER:
        ensure().payloadFormatIndicator = Number(text(value))
        break
      case RESPONSE_TOPIC_HEADER:
        ensure().responseTopic = text(value)
        break
      case CORRELATION_HEADER:
        ensure().correlationData = value === null ? Buffer.alloc(0) : Buffer.from(value)
        break
      default: {
        if (key.startsWith(RESERVED_PREFIX) && !key.startsWith(ESCAPED_USER_PREFIX)) break // a later version's header
        const user: UserProperties = (ensure().userProperties ??= [])
        user.push([key.startsWith(ESCAPED_USER_PREFIX) ? key.slice(ESCAPED_USER_PREFIX.length) : key, text(value)])
      }
    }
  }
  const payload = record.value === null ? Buffer.alloc(0) : Buffer.from(record.value)
  const message = new Message(topic ?? text(record.key), payload, qos, retain, props, expiresAt, origin, record.timestamp)
  message.tp = tp
  message.offset = tp === null ? -1 : record.offset
  message.inboundPacketId = packetId
  message.shareTargets = shareTargets
  message.shareForwards = shareForwards
  message.relayed = relayed
  return message
}

