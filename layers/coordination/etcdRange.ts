/**
 * Lists an etcd prefix in pages, all read at the revision of the first page, so the result is
 * one consistent snapshot a watch can resume from. One range call answered 60k route keys in
 * 5.4 MB, past grpc-js's 4 MiB, and took seconds (docs/cluster.md 2.1); pages keep each call
 * small and each gets its own deadline. A page is read in key order without a sort option: with
 * one, etcd reads the whole range before it applies the limit.
 */
import { Effect } from "effect"
import type { Etcd3, IKeyValue } from "etcd3"
import { Range } from "etcd3"
import { CoordinationError } from "../../services/Coordination.js"
import { call } from "./etcdClient.js"

/**
 * Keys per range call: ~0.45 MB of route keys. Larger is faster: etcd (3.4, 3.5) walks the rest of
 * the range for every page (to count it), so smaller pages cost more in total. Measured, 200k
 * keys: 1,000 a page 7.5-11 s, 2,000 5.3-6.3 s, 5,000 2.9-3.4 s, 10,000 2.8-4.6 s.
 */
export const PAGE_KEYS = 5000
/** Listings restarted because the revision was compacted between two pages, before giving up. */
const MAX_RESTARTS = 3

/** etcd's answer when a read or a watch names a revision older than its compaction. */
export const isCompacted = (cause: unknown): boolean =>
  cause instanceof Error && cause.message.includes("required revision has been compacted")

export interface Listing {
  readonly kvs: ReadonlyArray<IKeyValue>
  /** The revision every page was read at: watch from it to see what came after. */
  readonly revision: number
}

const listOnce = (client: Etcd3, op: string, prefix: string, deadlineMs: number, pageKeys: number): Effect.Effect<Listing, CoordinationError> =>
  Effect.gen(function*() {
    const end = Range.prefix(prefix).end
    const kvs: Array<IKeyValue> = []
    let start: Buffer = Buffer.from(prefix)
    let revision = 0 // 0: the first page reads the current revision, and pins it for the rest
    for (;;) {
      const from = start
      const at = revision
      const page = yield* call(op, deadlineMs, (o) => {
        const range = client.getAll().inRange({ start: from, end }).limit(pageKeys)
        return (at > 0 ? range.revision(at) : range).options(o).exec()
      })
      if (revision === 0) revision = Number(page.header.revision)
      for (const kv of page.kvs) kvs.push(kv)
      const last = page.kvs.at(-1)
      if (!page.more || last === undefined) return { kvs, revision }
      start = Buffer.concat([last.key, Buffer.from([0])]) // the next key after the last one
    }
  })

/** Every key under `prefix` (full etcd key), read in pages of `pageKeys` at one revision. */
export const listPrefix = (
  client: Etcd3,
  op: string,
  prefix: string,
  deadlineMs: number,
  pageKeys = PAGE_KEYS
): Effect.Effect<Listing, CoordinationError> => {
  const attempt = (restarts: number): Effect.Effect<Listing, CoordinationError> =>
    listOnce(client, op, prefix, deadlineMs, pageKeys).pipe(
      // Compacted under us between two pages: start again at the new current revision.
      Effect.catchIf((e) => isCompacted(e.cause) && restarts < MAX_RESTARTS, () => attempt(restarts + 1))
    )
  return attempt(0)
}
