/**
 * One home per MQTT packet, as Mosquitto's handle_*.c and Aedes' lib/handlers/ have: the
 * dispatch table below, named by packet type, is how a connected client's packets reach their
 * rules. CONNECT before the session exists goes to handleConnect directly (Connection.handle);
 * here CONNECT is the second one, a protocol error. Packets only a server sends (CONNACK,
 * SUBACK, UNSUBACK, PINGRESP) are protocol errors from a client.
 */
import { ReasonCode } from "../../../domain/ReasonCode.js"
import type { AckPacket, ControlPacket, DecodedPacket, PublishPacket, SimplePacket } from "../codec/packets.js"
import { Cmd } from "../codec/packets.js"
import type { Connection } from "../Connection.js"
import type { LiveSession } from "../engine/LiveSession.js"
import { handleCompletion, handlePubrec, handlePubrel } from "./acknowledgements.js"
import { handleAuth } from "./auth.js"
import { handleDisconnect } from "./disconnect.js"
import { handlePingreq } from "./ping.js"
import { handlePublish } from "./publish.js"
import { handleSubscribe } from "./subscribe.js"
import { handleUnsubscribe } from "./unsubscribe.js"

export type PacketHandler<P> = (conn: Connection, packet: P, session: LiveSession) => void

type Control<C extends ControlPacket["cmd"]> = Extract<ControlPacket, { cmd: C }>

/** [MQTT-3.1.0-2] a second CONNECT, or a packet only a server sends. */
const protocolError: PacketHandler<unknown> = (conn) => conn.fail(ReasonCode.ProtocolError)

const handlers: { readonly [K in keyof typeof Cmd]: PacketHandler<never> } = {
  CONNECT: protocolError,
  CONNACK: protocolError,
  PUBLISH: handlePublish satisfies PacketHandler<PublishPacket>,
  PUBACK: handleCompletion satisfies PacketHandler<AckPacket>,
  PUBREC: handlePubrec satisfies PacketHandler<AckPacket>,
  PUBREL: handlePubrel satisfies PacketHandler<AckPacket>,
  PUBCOMP: handleCompletion satisfies PacketHandler<AckPacket>,
  SUBSCRIBE: ((conn, p, session) => handleSubscribe(conn, p.packet, session)) satisfies PacketHandler<Control<8>>,
  SUBACK: protocolError,
  UNSUBSCRIBE: ((conn, p, session) => handleUnsubscribe(conn, p.packet, session)) satisfies PacketHandler<Control<10>>,
  UNSUBACK: protocolError,
  PINGREQ: handlePingreq,
  PINGRESP: protocolError,
  DISCONNECT: handleDisconnect satisfies PacketHandler<Control<14> | SimplePacket>,
  AUTH: handleAuth
}

/**
 * The table by packet type number (the decoder's `cmd`): one array load and one call per packet.
 * Index 0 (a reserved type, what decode errors carry) is never reached: Connection handles those.
 */
export const PACKET_HANDLERS: ReadonlyArray<PacketHandler<DecodedPacket>> = (() => {
  const table: Array<PacketHandler<DecodedPacket>> = [protocolError]
  for (const [name, cmd] of Object.entries(Cmd)) table[cmd] = handlers[name as keyof typeof Cmd] as PacketHandler<DecodedPacket>
  return table
})()
