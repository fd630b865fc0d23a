/**
 * The reference topic matcher: the MQTT matching rules written as plainly as possible, so that it
 * is obviously right. The SubscriptionTrie is tested to agree with it; the broker's hot path uses
 * the trie, never this (it splits and allocates per call). Both arguments are assumed valid
 * (validateTopicFilter / validateTopicName); `$share/` prefixes are stripped before matching.
 */

/**
 * True when the topic name `topic` matches the topic filter `filter`.
 *
 * - `+` matches exactly one level, including an empty one (`a/+` matches `a/`) [MQTT-4.7.1-3].
 * - `#` matches any number of levels, including the parent level itself (`a/#` matches `a`)
 *   [MQTT-4.7.1-2].
 * - A topic starting with `$` is not matched by a filter starting with a wildcard
 *   [MQTT-4.7.2-1]; `$SYS/#` still matches `$SYS/x`.
 */
export const matches = (filter: string, topic: string): boolean => {
  // [MQTT-4.7.2-1]
  if (topic.startsWith("$") && (filter.startsWith("+") || filter.startsWith("#"))) return false
  const f = filter.split("/")
  const t = topic.split("/")
  for (let i = 0; i < f.length; i++) {
    const level = f[i]
    // Checked before the topic's length, so that `a/#` matches `a`.
    if (level === "#") return true
    if (i >= t.length) return false
    if (level !== "+" && level !== t[i]) return false
  }
  return f.length === t.length
}
