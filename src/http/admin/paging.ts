/**
 * Cursor paging, done on the server: a page is the `limit` smallest keys after the cursor among
 * what passes the filter, found in one pass without sorting the whole set, so the first page of
 * 100k clients costs one scan. The cursor is the last key of the previous page: stable when
 * entries come and go between pages (none is skipped or repeated that stayed).
 */
import { Schema } from "effect"

export const DEFAULT_LIMIT = 100
export const MAX_LIMIT = 1000

/** `?cursor=&limit=` on every list. */
export const PageParams = {
  cursor: Schema.optional(Schema.String).annotations({ description: "the `next` of the previous page" }),
  limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, MAX_LIMIT))).annotations({
    description: `page size, 1 to ${MAX_LIMIT} (default ${DEFAULT_LIMIT})`
  })
}

/** A page of `item`: `next` is the cursor for the following page, null on the last. */
export const Page = <A, I, R>(item: Schema.Schema<A, I, R>) =>
  Schema.Struct({ items: Schema.Array(item), next: Schema.NullOr(Schema.String) })

export interface PageOf<A> {
  readonly items: ReadonlyArray<A>
  readonly next: string | null
}

/**
 * The first `limit` entries (by `keyOf`, ascending) with a key greater than `after`, among
 * `entries` that `keep`. Holds at most limit + 1 candidates: O(n log limit) comparisons.
 */
export const pageByKey = <T>(
  entries: Iterable<T>,
  keyOf: (entry: T) => string,
  options: { readonly after?: string | undefined; readonly limit?: number | undefined; readonly keep?: (entry: T) => boolean }
): PageOf<T> => {
  const limit = options.limit ?? DEFAULT_LIMIT
  const after = options.after
  const keep = options.keep
  // One more than asked: whether a next page exists.
  const size = limit + 1
  const keys: Array<string> = []
  const kept: Array<T> = []
  for (const entry of entries) {
    const key = keyOf(entry)
    if (after !== undefined && key <= after) continue
    if (keys.length === size && key >= keys[size - 1]!) continue
    if (keep !== undefined && !keep(entry)) continue
    let lo = 0
    let hi = keys.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (keys[mid]! < key) lo = mid + 1
      else hi = mid
    }
    keys.splice(lo, 0, key)
    kept.splice(lo, 0, entry)
    if (keys.length > size) {
      keys.pop()
      kept.pop()
    }
  }
  if (kept.length <= limit) return { items: kept, next: null }
  kept.pop()
  return { items: kept, next: keys[limit - 1]! }
}
