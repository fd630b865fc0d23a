/**
 * Validation of MQTT topic filters (SUBSCRIBE / UNSUBSCRIBE) and parsing of MQTT 5 shared
 * subscriptions (`$share/{group}/{filter}`). Runs per control packet, not per message, but keeps
 * the same shape as TopicName.ts: one pass over the code units, a reason code as the outcome.
 * Limits that depend on configuration (length, levels) are applied by validateTopicFilter to the
 * whole string as received, `$share/` prefix included, because that is what the wire carries.
 */
import type { TopicFilter } from "../ids.js"
import { ReasonCode } from "../ReasonCode.js"

/** 0x8F, as a module constant. */
const TopicFilterInvalid = ReasonCode.TopicFilterInvalid

/** [MQTT-1.5.4] a UTF-8 encoded string is at most 65,535 bytes on the wire. */
const MaxWireBytes = 65535

/**
 * 0 when `filter` is a valid topic filter, else 0x8F (Topic Filter invalid).
 *
 * Checks: non-empty [MQTT-4.7.3-1]; `#` only as the whole last level [MQTT-4.7.1-2]; `+` only as
 * a whole level [MQTT-4.7.1-3]; no U+0000 [MQTT-4.7.3-2]; well-formed UTF-16 [MQTT-1.5.4-1];
 * UTF-8 byte length <= `maxLength` and <= 65,535 [MQTT-4.7.3-3]; at most `maxLevels` levels.
 * A `$share/` filter is checked as a plain string here: call parseShared for its structure.
 */
export const validateTopicFilter = (filter: string, maxLevels: number, maxLength: number): number => {
  const len = filter.length
  // [MQTT-4.7.3-1] a topic filter is at least one character long
  if (len === 0) return TopicFilterInvalid
  const limit = maxLength < MaxWireBytes ? maxLength : MaxWireBytes
  if (len > limit) return TopicFilterInvalid
  let bytes = 0
  let levels = 1
  for (let i = 0; i < len; i++) {
    const c = filter.charCodeAt(i)
    if (c < 0x80) {
      if (c <= 47) {
        if (c === 47) {
          if (++levels > maxLevels) return TopicFilterInvalid
        } else if (c === 43) {
          // [MQTT-4.7.1-3] `+` occupies an entire level: preceded by start or '/', followed by end or '/'
          if ((i > 0 && filter.charCodeAt(i - 1) !== 47) || (i + 1 < len && filter.charCodeAt(i + 1) !== 47)) {
            return TopicFilterInvalid
          }
        } else if (c === 35) {
          // [MQTT-4.7.1-2] `#` is the last character and occupies an entire level
          if (i + 1 !== len || (i > 0 && filter.charCodeAt(i - 1) !== 47)) return TopicFilterInvalid
        } else if (c === 0) {
          // [MQTT-4.7.3-2]
          return TopicFilterInvalid
        }
      }
      bytes += 1
    } else if (c < 0x800) {
      bytes += 2
    } else if (c < 0xd800 || c > 0xdfff) {
      bytes += 3
    } else {
      // [MQTT-1.5.4-1] only a high surrogate followed by a low one encodes (as 4 bytes)
      if (c >= 0xdc00 || i + 1 === len) return TopicFilterInvalid
      const d = filter.charCodeAt(i + 1)
      if (d < 0xdc00 || d > 0xdfff) return TopicFilterInvalid
      i++
      bytes += 4
    }
  }
  if (levels > maxLevels || bytes > limit) return TopicFilterInvalid
  return 0
}

/** A parsed `$share/{group}/{filter}` subscription. */
export interface SharedFilter {
  readonly group: string
  readonly filter: TopicFilter
}

const SharePrefix = "$share/"
const SharePrefixLength = 7

/**
 * Parses an MQTT 5 shared subscription.
 *
 * - `null`: not a shared subscription (does not start with `$share/`; the prefix is case-sensitive,
 *   and a bare `$share` is an ordinary filter).
 * - a SharedFilter: `$share/{group}/{filter}`. `filter` is everything after the group's `/`, so
 *   `$share/g//x` has the filter `/x`. Its wildcard syntax has been checked, so the brand holds;
 *   length and level limits are the caller's (validateTopicFilter on the raw string).
 * - 0x8F: malformed. The group must be at least one character [MQTT-4.8.2-1], must not contain
 *   `+`, `#` (or U+0000), and must be followed by `/` and a non-empty valid filter [MQTT-4.8.2-2].
 */
export const parseShared = (raw: string): SharedFilter | null | number => {
  if (!raw.startsWith(SharePrefix)) return null
  // The group ends at the next '/', so it can never contain one [MQTT-4.8.2-2].
  const slash = raw.indexOf("/", SharePrefixLength)
  // [MQTT-4.8.2-1] non-empty ShareName; [MQTT-4.8.2-2] followed by "/" and a topic filter
  if (slash === -1 || slash === SharePrefixLength || slash + 1 === raw.length) return TopicFilterInvalid
  for (let i = SharePrefixLength; i < slash; i++) {
    const c = raw.charCodeAt(i)
    // [MQTT-4.8.2-2] no wildcards in the ShareName; [MQTT-4.7.3-2] no U+0000 anywhere
    if (c === 43 || c === 35 || c === 0) return TopicFilterInvalid
  }
  const filter = raw.slice(slash + 1)
  if (validateTopicFilter(filter, Infinity, MaxWireBytes) !== 0) return TopicFilterInvalid
  return { group: raw.slice(SharePrefixLength, slash), filter: filter as TopicFilter }
}
