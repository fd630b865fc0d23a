/** PINGREQ: PINGRESP (keep-alive itself is the connection's last-seen time, set on any input). */
import { PINGRESP } from "../codec/encode.js"
import type { Connection } from "../Connection.js"

export const handlePingreq = (conn: Connection): void => {
  conn.writeFrame(PINGRESP)
}
