/**
 * The segment store killed for real: a child process (fixtures/segmentWriter.ts) writes to two
 * partitions with 1 KiB segments (so it rolls all the time) and is SIGKILLed mid-stream, three
 * times, restarting on the same directory. Every acknowledged write must survive (a process
 * crash keeps the page cache, so even fsync "never" holds), recovery must find a clean log, and
 * writes must continue at the recovered end.
 */
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { topicPartition } from "../../domain/ids.js"
import * as SegmentLogDriver from "../../layers/storage-segment/SegmentLogDriver.js"
import { batch, offsetsOf } from "./LogDriver.contract.js"

const root = fileURLToPath(new URL("../..", import.meta.url))
const viteNode = path.join(root, "node_modules/vite-node/vite-node.mjs")
const writer = fileURLToPath(new URL("./fixtures/segmentWriter.ts", import.meta.url))

/** Runs the writer until it acknowledged at least `atLeast`, then SIGKILLs it; the last ack seen. */
const runAndKill = (dir: string, atLeast: number): Promise<number> =>
  new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [viteNode, writer, dir], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
    let acked = -1
    let killed = false
    let errors = ""
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000)
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (errors += d))
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      const all = d.match(/acked (\d+)/g)
      if (all !== null) acked = Number(all[all.length - 1]!.slice(6))
      if (!killed && acked >= atLeast) {
        killed = true
        child.kill("SIGKILL")
      }
    })
    child.once("exit", (_code, signal) => {
      clearTimeout(timer)
      if (signal === "SIGKILL" && killed) resolve(acked)
      else reject(new Error(`writer exited (${signal ?? _code}) after ack ${acked}: ${errors}`))
    })
  })

it.scoped("every acknowledged write survives SIGKILL, recovery is clean, appends continue", () =>
  Effect.gen(function* () {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "robustmq-segment-crash-"))),
      (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
    )
    const tps = [topicPartition("crash", 0), topicPartition("crash", 1)]
    let acked = 0
    for (let round = 1; round <= 3; round++) {
      acked = yield* Effect.promise(() => runAndKill(dir, acked + 300))
    }
    yield* Effect.scoped(
      Effect.gen(function* () {
        const driver = yield* SegmentLogDriver.make({ dataDir: dir, fsync: "never", segmentBytes: 1024 })
        const ends = yield* driver.recover
        for (const tp of tps) {
          const end = ends.get(tp)!
          expect(end).toBeGreaterThanOrEqual(acked)
          expect(end % 3).toBe(0)
          // Every offset below the end decodes (CRC checked), except gaps a restart may leave
          // in the partition that was a pass behind.
          const offsets = offsetsOf(yield* driver.readRange(tp, 0, 1 << 30))
          expect(offsets[offsets.length - 1]).toBe(end - 1)
          expect(new Set(offsets).size).toBe(offsets.length)
          expect(offsets.length).toBeGreaterThan(end - 10)
          yield* driver.writeBatches([batch(tp, end, 2)])
          expect(offsetsOf(yield* driver.readRange(tp, end, 1 << 20))).toEqual([end, end + 1])
        }
        expect(fs.readdirSync(path.join(dir, "log", tps[0]!)).filter((n) => n.endsWith(".log")).length).toBeGreaterThan(10)
      })
    )
  }), 60_000)
