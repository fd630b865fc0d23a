/**
 * Validation of concrete MQTT topic names (the topic of a PUBLISH or a will), for both 3.1.1 and 5.0.
 * It runs once per received PUBLISH, so it is one pass over the UTF-16 code units: no split, no
 * regex, no encoding to bytes, and the outcome is a reason code, never an exception.
 */
import { ReasonCode } from "../ReasonCode.js"

/** 0x90; hoisted into a module constant so the hot loop reads no object property. */
const TopicNameInvalid = ReasonCode.TopicNameInvalid

/** [MQTT-1.5.4] a UTF-8 encoded string is at most 65,535 bytes on the wire, whatever the config says. */
const MaxWireBytes = 65535

/**
 * Hot path: 0 when `name` is a valid topic name, else 0x90 (Topic Name invalid).
 *
 * Checks: non-empty [MQTT-4.7.3-1]; no `+` or `#` [MQTT-3.3.2-2]; no U+0000 [MQTT-4.7.3-2]; well-formed
 * UTF-16 (a lone surrogate has no UTF-8 encoding) [MQTT-1.5.4-1]; UTF-8 byte length <= `maxLength`
 * and <= 65,535 [MQTT-4.7.3-3]; at most `maxLevels` levels (`a//b` has 3). Pass `Infinity` for no
 * level limit.
 */
export const validateTopicName = (name: string, maxLevels: number, maxLength: number): number => {
  const len = name.length
  // [MQTT-4.7.3-1] a topic name is at least one character long
  if (len === 0) return TopicNameInvalid
  const limit = maxLength < MaxWireBytes ? maxLength : MaxWireBytes
  // Every UTF-16 unit encodes to at least one byte, so an over-long string fails before the loop.
  if (len > limit) return TopicNameInvalid
  let bytes = 0
  let levels = 1
  for (let i = 0; i < len; i++) {
    const c = name.charCodeAt(i)
    if (c < 0x80) {
      // '/', '#', '+' and NUL are all <= 47, so letters and digits take a single comparison.
      if (c <= 47) {
        if (c === 47) {
          if (++levels > maxLevels) return TopicNameInvalid
        } else if (c === 43 || c === 35 || c === 0) {
          // [MQTT-3.3.2-2] no wildcards in a topic name; [MQTT-4.7.3-2] no U+0000
          return TopicNameInvalid
        }
      }
      bytes += 1
    } else if (c < 0x800) {
      bytes += 2
    } else if (c < 0xd800 || c > 0xdfff) {
      bytes += 3
    } else {
      // [MQTT-1.5.4-1] surrogates must pair up (high then low): a lone one cannot be UTF-8 encoded.
      if (c >= 0xdc00 || i + 1 === len) return TopicNameInvalid
      const d = name.charCodeAt(i + 1)
      if (d < 0xdc00 || d > 0xdfff) return TopicNameInvalid
      i++
      bytes += 4
    }
  }
  if (levels > maxLevels || bytes > limit) return TopicNameInvalid
  return 0
}
