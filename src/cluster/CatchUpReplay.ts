/**
 * The sending side of a catch-up: another node missed part of what this node forwarded (its
 * link dropped, or it restarted) and asks for [from, to) of one partition of this node's log
 * again. This reads that range a chunk at a time and sends what matches the requester's filters
 * (and every retained message: each node keeps the whole retained set), and what this node
 * picked the requester for in a share group it asks for (the pick is logged with the message,
 * `mqtt.share-forward`), as REPLAY frames carrying those groups per message, each saying which
 * offsets it covers, so the requester knows when the gap is closed. When the requester leads the
 * partition for Kafka (`whole`), every message of the range goes, matching or not: its log is
 * what Kafka reads (KafkaBridge). Messages that
 * other nodes forwarded here (`relayed`) are theirs to replay, not this node's.
 */
import { Effect } from "effect"
import { streamOf, type TopicPartition } from "../../domain/ids.js"
import { SubscriptionTrie } from "../../domain/topic/SubscriptionTrie.js"
import type { StreamMapping } from "../../domain/topic/StreamMapping.js"
import type { StorageError } from "../../services/errors.js"
import type { MessageLog } from "../../services/MessageLog.js"
import { type Message, messageFromRecord, SHARE_FORWARD_SEPARATOR } from "../mqtt/engine/Message.js"
import { type CatchUp, type Coverage, encodePublish, FrameType } from "./linkFrames.js"
import type { NodeLink } from "./NodeLink.js"

/** Bytes of log per read (and about per REPLAY frame). */
const CHUNK = 256 * 1024
/** A replay pauses while this much is unsent to the requester, so live traffic is not starved. */
const MAX_UNSENT = 8 * 1024 * 1024

export interface ReplayResult {
  readonly sent: number
  /** False when the requester could not be reached any more: it asks again on its next link. */
  readonly complete: boolean
}

const SHARE_PREFIX = "$share/"
const NO_GROUPS: ReadonlyArray<string> = []

const filterTrie = (filters: ReadonlyArray<string>): SubscriptionTrie<true> => {
  const trie = new SubscriptionTrie<true>({ cacheSize: 0 })
  for (const filter of filters) {
    if (filter.startsWith(SHARE_PREFIX)) continue
    try {
      trie.add(filter, filter, true)
    } catch {
      // not a valid filter: it matches nothing here either
    }
  }
  return trie
}

/** The share groups (`<group>/<filter>`) of the `$share/` route keys among `filters`. */
const shareGroups = (filters: ReadonlyArray<string>): Set<string> => {
  const groups = new Set<string>()
  for (const f of filters) if (f.startsWith(SHARE_PREFIX)) groups.add(f.slice(SHARE_PREFIX.length))
  return groups
}

/** The groups of `wanted` that this node picked `node` for when it forwarded `m`. */
const pickedFor = (m: Message, node: string, wanted: ReadonlySet<string>): ReadonlyArray<string> => {
  const picks = m.shareForwards
  if (picks === null || wanted.size === 0) return NO_GROUPS
  let out: Array<string> | null = null
  for (const pick of picks) {
    const parts = pick.split(SHARE_FORWARD_SEPARATOR)
    if (parts[0] !== node) continue
    for (let i = 1; i < parts.length; i++) if (wanted.has(parts[i]!)) (out ??= []).push(parts[i]!)
  }
  return out ?? NO_GROUPS
}

/** How a range goes out: REPLAY frames with every retained message (a node keeps the whole retained set), unless said otherwise. */
export interface ReplayFrames {
  /** `groups[i]`: the share groups message i goes to there (with `shareGroups`). */
  readonly frame: (messages: ReadonlyArray<Message>, coverage: Coverage, groups: ReadonlyArray<ReadonlyArray<string>>) => Buffer
  readonly retained: boolean
  /** Whether the requester's `$share/` keys bring the messages this node picked it for. */
  readonly shareGroups?: boolean
}

const replayFrames: ReplayFrames = {
  frame: (messages, coverage, groups) => encodePublish(messages, groups, [coverage], FrameType.Replay),
  retained: true,
  shareGroups: true
}

export const replay = (
  log: MessageLog["Type"],
  mapping: StreamMapping,
  link: NodeLink,
  to: string,
  request: CatchUp,
  frames: ReplayFrames = replayFrames,
  /** Every message of the range, not only those matching the requester's filters (it leads `tp`). */
  whole = false
): Effect.Effect<ReplayResult, StorageError> =>
  Effect.gen(function*() {
    const tp = request.tp as TopicPartition
    const wanted = filterTrie(request.filters)
    const groupsWanted = frames.shareGroups === true ? shareGroups(request.filters) : new Set<string>()
    const end = Math.min(request.to, log.unsafeEndOffset(tp))
    let at = Math.max(request.from, yield* log.startOffset(tp))
    let sent = 0
    // What was trimmed away before `at` is gone: the first frame covers it anyway, so the requester moves on.
    let coveredFrom = request.from
    let stalled = false
    while (at < end) {
      const records = yield* log.read(tp, at, CHUNK)
      const batch: Array<Message> = []
      const groups: Array<ReadonlyArray<string>> = []
      let next = at
      for (const r of records) {
        if (r.offset < at || r.offset >= end) continue
        next = r.offset + 1
        const topic = mapping.mqttTopicOf(streamOf(tp), r.key)
        if (topic === null) continue
        const m = messageFromRecord(tp, r, topic)
        if (m === null || m.relayed) continue
        const picked = pickedFor(m, to, groupsWanted)
        if (whole || (frames.retained && m.retain) || wanted.hasMatch(topic) || picked.length > 0) {
          batch.push(m)
          groups.push(picked)
        }
      }
      if (next === at) {
        // Nothing readable: appended but not yet written (wait for the log's next write, once),
        // or gone (deleted under the reader): then there is nothing more to send.
        if (stalled) break
        stalled = true
        yield* log.flush
        continue
      }
      stalled = false
      if (!link.sendControl(to, frames.frame(batch, { tp, from: coveredFrom, to: next }, groups))) return { sent, complete: false }
      sent += batch.length
      coveredFrom = at = next
      while (link.unsent(to) > MAX_UNSENT) yield* Effect.sleep("10 millis")
    }
    // The rest of the range (empty, or no longer in the log): said, so the requester stops waiting.
    if (coveredFrom < request.to) {
      if (!link.sendControl(to, frames.frame([], { tp, from: coveredFrom, to: Math.max(coveredFrom, request.to) }, []))) return { sent, complete: false }
    }
    return { sent, complete: true }
  })
