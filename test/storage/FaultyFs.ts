/**
 * A file layer for the segment store (SegmentFs) over the real files, with two kinds of fault:
 *
 * - **Power loss, simulated.** Per file it keeps a durable image: the file's content at its
 *   last fdatasync (empty for a file never synced), and per directory whether the entries made
 *   in it were fsynced since. `powerCut(mode)` rewrites every file the store touched to what a
 *   power loss could leave, and from then on every call fails (the process is "dead"):
 *   - `lose-all`: every file is its durable image; files whose directory entry was never
 *     synced are gone.
 *   - `keep-prefix`: the durable image plus the writes since its sync in order, up to a random
 *     point, the last one torn at a random byte (the disk wrote part of the queue).
 *   - `zero-tail`: the durable image extended with zeros to the size the file had (the size
 *     reached the disk, the data did not).
 *   - `reorder`: the durable image plus a random subset of the writes since (each kept or not,
 *     in order): a disk that wrote a later block before an earlier one.
 *   `armCut(n, ...)` cuts the power inside the n-th write from now, after the bytes reached the
 *   file and before anything else (that write then fails): a cut in the middle of a pass.
 *   Not modelled: lost unlinks or renames (taken as durable at once).
 * - **Write errors.** `failWrites("ENOSPC" | "EIO")` makes every write and create fail with
 *   that errno until `heal()`, after writing the first half of what it was given (a short
 *   write, as a filling disk does); with EIO truncations fail too. `failSyncs()` makes
 *   fdatasync fail with EIO. Reads keep working.
 */
import * as fsSync from "node:fs"
import * as NodePath from "node:path"
import { nodeFs, type SegmentFile, type SegmentFs } from "../../layers/storage-segment/SegmentFs.js"

export type CutMode = "lose-all" | "keep-prefix" | "zero-tail" | "reorder"

type Op =
  | { readonly kind: "write"; readonly position: number; readonly bytes: Buffer }
  | { readonly kind: "truncate"; readonly length: number }

interface Tracked {
  /** Content at the last datasync; null when never synced since it was created. */
  durable: Buffer | null
  /** Writes and truncations since the last datasync, in order. */
  pending: Array<Op>
}

const errno = (code: string, what: string): NodeJS.ErrnoException =>
  Object.assign(new Error(`${code}: ${what} (injected fault)`), { code })

/** A small seeded generator (mulberry32), so a failing cut can be replayed. */
export const rng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

export class FaultyFs implements SegmentFs {
  private readonly files = new Map<string, Tracked>()
  /** Directories and files created since their parent directory was last fsynced. */
  private readonly unsyncedEntries = new Set<string>()
  private dead = false
  private failing: "ENOSPC" | "EIO" | undefined = undefined
  private syncsFail = false
  /** fdatasyncs seen (for tests that count them). */
  syncs = 0
  private armed: { left: number; mode: CutMode; random: () => number } | undefined = undefined

  /** Cuts the power inside the `writes`-th write from now (module comment). */
  armCut(writes: number, mode: CutMode, random: () => number = Math.random): void {
    this.armed = { left: writes, mode, random }
  }

  get isDead(): boolean {
    return this.dead
  }

  /** Called after each write reached the file: fires an armed cut. */
  private afterWrite(what: string): void {
    if (this.armed !== undefined && --this.armed.left <= 0) {
      const { mode, random } = this.armed
      this.armed = undefined
      this.powerCut(mode, random)
      throw errno("EIO", `power cut during ${what}`)
    }
  }

  // ------------------------------------------------------------------------------------------
  // faults

  failWrites(code: "ENOSPC" | "EIO"): void {
    this.failing = code
  }

  failSyncs(): void {
    this.syncsFail = true
  }

  heal(): void {
    this.failing = undefined
    this.syncsFail = false
  }

  /** Rewrites the files as a power loss could leave them (module comment); then every call fails. */
  powerCut(mode: CutMode, random: () => number = Math.random): void {
    this.dead = true
    // Entries never made durable: children first, so a lost directory takes its files along.
    const lost = [...this.unsyncedEntries].filter((p) => mode === "lose-all" && fsSync.existsSync(p))
    for (const path of lost.sort((a, b) => b.length - a.length)) fsSync.rmSync(path, { recursive: true, force: true })
    for (const [path, t] of this.files) {
      if (!fsSync.existsSync(path)) continue
      const durable = t.durable ?? Buffer.alloc(0)
      let image: Buffer = Buffer.from(durable)
      if (mode === "zero-tail") {
        const size = fsSync.statSync(path).size
        if (size > image.length) image = Buffer.concat([image, Buffer.alloc(size - image.length)])
      } else if (mode === "reorder") {
        for (const op of t.pending) if (op.kind === "truncate" || random() < 0.5) image = apply(image, op, undefined)
      } else if (mode === "keep-prefix" && t.pending.length > 0) {
        const keep = Math.floor(random() * (t.pending.length + 1))
        for (let i = 0; i < keep; i++) {
          const op = t.pending[i]!
          const torn = i === keep - 1 && op.kind === "write" ? Math.floor(random() * (op.bytes.length + 1)) : undefined
          image = apply(image, op, torn)
        }
      }
      fsSync.writeFileSync(path, image)
    }
  }

  // ------------------------------------------------------------------------------------------
  // bookkeeping

  private check(what: string, write: boolean): void {
    if (this.dead) throw errno("EIO", `power is off: ${what}`)
    if (write && this.failing !== undefined) throw errno(this.failing, what)
  }

  /** Shrinking a file frees space, so only EIO stops it. */
  private checkTruncate(what: string): void {
    if (this.dead) throw errno("EIO", `power is off: ${what}`)
    if (this.failing === "EIO") throw errno("EIO", what)
  }

  private track(path: string, created: boolean): Tracked {
    let t = this.files.get(path)
    if (t === undefined) {
      // A file the store finds on disk is taken as durable as it is.
      t = { durable: created ? null : (fsSync.existsSync(path) ? fsSync.readFileSync(path) : null), pending: [] }
      this.files.set(path, t)
    }
    if (created) {
      t.durable = null
      t.pending = []
      this.unsyncedEntries.add(path)
    }
    return t
  }

  private handle(path: string, inner: SegmentFile): SegmentFile {
    const t = this.track(path, false)
    const self = this
    return {
      read: (buffer, offset, length, position) => {
        self.check(`read ${path}`, false)
        return inner.read(buffer, offset, length, position)
      },
      writev: async (buffers, position) => {
        if (self.failing !== undefined && !self.dead) {
          const all = Buffer.concat(buffers.map((b) => Buffer.from(b)))
          const half = all.subarray(0, Math.floor(all.length / 2))
          await inner.write(half, 0, half.length, position)
          t.pending.push({ kind: "write", position, bytes: Buffer.from(half) })
        }
        self.check(`writev ${path}`, true)
        const r = await inner.writev(buffers, position)
        // One op per buffer (a batch each): a disk may write some of them and not others.
        let at = position
        for (const b of buffers) {
          const n = Math.min(b.length, position + r.bytesWritten - at)
          if (n <= 0) break
          t.pending.push({ kind: "write", position: at, bytes: Buffer.from(b.subarray(0, n)) })
          at += n
        }
        self.afterWrite(`writev ${path}`)
        return r
      },
      write: async (buffer, offset, length, position) => {
        self.check(`write ${path}`, true)
        const r = await inner.write(buffer, offset, length, position)
        t.pending.push({ kind: "write", position, bytes: Buffer.from(buffer.subarray(offset, offset + r.bytesWritten)) })
        self.afterWrite(`write ${path}`)
        return r
      },
      truncate: async (length) => {
        self.checkTruncate(`truncate ${path}`)
        await inner.truncate(length)
        t.pending.push({ kind: "truncate", length })
      },
      datasync: async () => {
        self.check(`fdatasync ${path}`, false)
        if (self.syncsFail) throw errno("EIO", `fdatasync ${path}`)
        // The real fdatasync is skipped: what counts here is that the store asked for it.
        t.durable = fsSync.readFileSync(path)
        t.pending = []
        self.syncs++
      },
      stat: () => {
        self.check(`stat ${path}`, false)
        return inner.stat()
      },
      // Always allowed: the test must not leak descriptors after a "power cut".
      close: () => inner.close()
    }
  }

  // ------------------------------------------------------------------------------------------
  // SegmentFs

  async open(path: string, flags: "r" | "r+" | "wx+"): Promise<SegmentFile> {
    this.check(`open ${path}`, flags === "wx+")
    const inner = await nodeFs.open(path, flags)
    if (flags === "wx+") this.track(path, true)
    return this.handle(path, inner)
  }

  async readdir(dir: string) {
    this.check(`readdir ${dir}`, false)
    return nodeFs.readdir(dir)
  }

  async mkdir(dir: string): Promise<void> {
    this.check(`mkdir ${dir}`, true)
    const existed = fsSync.existsSync(dir)
    await nodeFs.mkdir(dir)
    if (!existed) this.unsyncedEntries.add(dir)
  }

  async unlink(path: string): Promise<void> {
    this.check(`unlink ${path}`, false)
    await nodeFs.unlink(path)
    this.forget(path)
  }

  async rename(from: string, to: string): Promise<void> {
    this.check(`rename ${from}`, false)
    await nodeFs.rename(from, to)
    // Files under a renamed directory, or the file itself, move with their state.
    for (const [path, t] of [...this.files]) {
      if (path === from || path.startsWith(from + NodePath.sep)) {
        this.files.delete(path)
        this.files.set(to + path.slice(from.length), t)
      }
    }
    for (const path of [...this.unsyncedEntries]) {
      if (path === from || path.startsWith(from + NodePath.sep)) {
        this.unsyncedEntries.delete(path)
        this.unsyncedEntries.add(to + path.slice(from.length))
      }
    }
  }

  async rmTree(path: string): Promise<void> {
    this.check(`rm ${path}`, false)
    await nodeFs.rmTree(path)
    this.forget(path)
  }

  async readFile(path: string): Promise<Buffer> {
    this.check(`read ${path}`, false)
    return nodeFs.readFile(path)
  }

  async writeFile(path: string, data: Uint8Array | string): Promise<void> {
    this.check(`write ${path}`, true)
    const existed = fsSync.existsSync(path)
    await nodeFs.writeFile(path, data)
    const t = this.track(path, !existed)
    t.pending.push({ kind: "truncate", length: 0 }, { kind: "write", position: 0, bytes: Buffer.from(data) })
  }

  async truncate(path: string, length: number): Promise<void> {
    this.checkTruncate(`truncate ${path}`)
    await nodeFs.truncate(path, length)
    this.track(path, false).pending.push({ kind: "truncate", length })
  }

  async syncDir(dir: string): Promise<void> {
    this.check(`fsync ${dir}`, false)
    for (const path of [...this.unsyncedEntries]) if (NodePath.dirname(path) === dir) this.unsyncedEntries.delete(path)
  }

  private forget(path: string): void {
    for (const p of [...this.files.keys()]) if (p === path || p.startsWith(path + NodePath.sep)) this.files.delete(p)
    for (const p of [...this.unsyncedEntries]) if (p === path || p.startsWith(path + NodePath.sep)) this.unsyncedEntries.delete(p)
  }
}

const apply = (image: Buffer, op: Op, torn: number | undefined): Buffer => {
  if (op.kind === "truncate") return op.length <= image.length ? image.subarray(0, op.length) : Buffer.concat([image, Buffer.alloc(op.length - image.length)])
  const bytes = torn === undefined ? op.bytes : op.bytes.subarray(0, torn)
  const end = op.position + bytes.length
  const out = end > image.length ? Buffer.concat([image, Buffer.alloc(end - image.length)]) : Buffer.from(image)
  out.set(bytes, op.position)
  return out
}
