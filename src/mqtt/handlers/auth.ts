/**
 * AUTH: the broker offers no enhanced authentication (a CONNECT naming a method is refused with
 * 0x8C), so an AUTH packet is a protocol error (MQTT 5 §4.12: AUTH only follows a CONNECT that named a method).
 */
import { ReasonCode } from "../../../domain/ReasonCode.js"
import type { Connection } from "../Connection.js"

export const handleAuth = (conn: Connection): void => {
  conn.fail(ReasonCode.ProtocolError)
}
