/**
 * A FIFO queue with O(1) push and shift: a session's backlog can hold thousands of messages
 * and is drained one at a time as acknowledgements arrive, where `Array.shift`/`splice(0, 1)`
 * would copy the whole backlog per message. Storage is one array and a head index, compacted
 * when the consumed prefix dominates.
 */
export class Deque<A> {
  private items: Array<A> = []
  private head = 0

  get length(): number {
    return this.items.length - this.head
  }

  push(a: A): void {
    this.items.push(a)
  }

  /** Removes and returns the oldest item, or undefined when empty. */
  shift(): A | undefined {
    if (this.head >= this.items.length) return undefined
    const a = this.items[this.head]!
    this.items[this.head++] = undefined as A // let it be collected
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return a
  }

  *[Symbol.iterator](): IterableIterator<A> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i]!
  }

  /** Keeps the items for which `keep` is true, in order; calls `removed` for the others. */
  filter(keep: (a: A) => boolean, removed: (a: A) => void): void {
    const next: Array<A> = []
    for (let i = this.head; i < this.items.length; i++) {
      const a = this.items[i]!
      if (keep(a)) next.push(a)
      else removed(a)
    }
    this.items = next
    this.head = 0
  }
}
