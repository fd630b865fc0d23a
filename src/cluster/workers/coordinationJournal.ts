/**
 * The primary's coordination (`--workers N` without etcd) kept on disk, so what outlives a
 * worker outlives the primary too: the control-plane streams (topics, users, ACLs, bans), session
 * ownerships and the session directory, group offsets. One JSON line per change, appended before
 * the call answers (the page cache survives a crash of the process; fsync is left to the
 * workers' own stores); at start the file is replayed and rewritten as one line per live key, and
 * again whenever it holds many more lines than keys.
 */
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import type { DurableJournal } from "../../../layers/coordination/memory.js"
import type { Ownership } from "../../../services/Coordination.js"

type Line = { readonly d: string; readonly v: string | null } | { readonly o: string; readonly v: Ownership | null }

/** Lines beyond this many per live key trigger a rewrite. */
const REWRITE_FACTOR = 4
const MIN_REWRITE_LINES = 10_000

export const fileJournal = (path: string): DurableJournal => {
  const durable = new Map<string, string>()
  const owners = new Map<string, Ownership>()
  let lines = 0

  const apply = (line: Line) => {
    if ("d" in line) line.v === null ? durable.delete(line.d) : durable.set(line.d, line.v)
    else line.v === null ? owners.delete(line.o) : owners.set(line.o, line.v)
  }

  const rewrite = () => {
    const out: Array<string> = []
    for (const [d, v] of durable) out.push(JSON.stringify({ d, v }))
    for (const [o, v] of owners) out.push(JSON.stringify({ o, v }))
    writeFileSync(`${path}.tmp`, out.length === 0 ? "" : out.join("\n") + "\n")
    renameSync(`${path}.tmp`, path)
    lines = out.length
  }

  return {
    load: () => {
      if (existsSync(path)) {
        for (const text of readFileSync(path, "utf8").split("\n")) {
          if (text === "") continue
          try {
            apply(JSON.parse(text) as Line)
          } catch {
            // a line cut short by a crash mid-write: the change it held was never acknowledged
          }
        }
      }
      rewrite()
      return { durable: [...durable], owners: [...owners] }
    },
    record: (changes) => {
      const out: Array<string> = []
      for (const c of changes) {
        const line: Line = c.durable !== undefined ? { d: c.durable, v: c.value as string | null } : { o: c.owner!, v: c.value as Ownership | null }
        apply(line)
        out.push(JSON.stringify(line))
      }
      appendFileSync(path, out.join("\n") + "\n")
      lines += out.length
      if (lines > MIN_REWRITE_LINES && lines > REWRITE_FACTOR * (durable.size + owners.size)) rewrite()
    }
  }
}
