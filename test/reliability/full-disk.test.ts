/**
 * A full disk, for real: the broker's data dir is a small tmpfs filled up by a filler file.
 * While it is full, QoS 1 publishes are refused cleanly (MQTT 5: PUBACK 0x80; MQTT 3: the
 * connection closes, nothing acknowledged); once the filler is removed the broker takes
 * publishes again by itself; `robustmq log verify` finds nothing wrong; after a restart every
 * message acknowledged before is delivered.
 * Needs root to mount the tmpfs (CI runs as root); elsewhere the file is skipped, saying so.
 */
import { execFileSync, spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"
import { useBrokerProcesses } from "../support/BrokerProcess.js"
import { RawClient } from "../support/RawClient.js"

const main = fileURLToPath(new URL("../../dist/src/main.js", import.meta.url))
const isRoot = typeof process.getuid === "function" && process.getuid() === 0
const { start, kill } = useBrokerProcesses()
const mounts: Array<string> = []
afterEach(() => {
  for (const m of mounts.splice(0)) {
    try {
      execFileSync("umount", ["-l", m])
    } catch {}
    Fs.rmSync(m, { recursive: true, force: true })
  }
})

/** A fresh tmpfs of `mb` MiB. */
const smallDisk = (mb: number): string => {
  const dir = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "robustmq-disk-"))
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${mb}m`, "tmpfs", dir])
  mounts.push(dir)
  return dir
}

/** Fills the filesystem of `dir` until `leaveBytes` are left (or it is full). */
const fill = (dir: string, leaveBytes: number): string => {
  const filler = NodePath.join(dir, "filler")
  const fd = Fs.openSync(filler, "w")
  const chunk = Buffer.alloc(64 * 1024, 1)
  try {
    for (let i = 0; i < 100_000; i++) {
      const { bavail, bsize } = Fs.statfsSync(dir)
      if (bavail * bsize <= leaveBytes) break
      Fs.writeSync(fd, chunk)
    }
  } catch {} // ENOSPC: full
  Fs.closeSync(fd)
  return filler
}

const persistent = { clean: false, properties: { sessionExpiryInterval: 3600 } }
const payload = (i: number) => `${i}:`.padEnd(16 * 1024, "x")

describe.skipIf(!isRoot)("full disk (tmpfs)", () => {
  it.each(["sqlite", "segment"] as const)("%s: refuses publishes cleanly while full, takes them again after, loses nothing acknowledged", async (storage) => {
    const dir = NodePath.join(smallDisk(24), "data")
    const a = await start(dir, { storage })
    const sub = await RawClient.handshake(a.port, 5, { clientId: "disk-sub", ...persistent })
    sub.client.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "disk/#", qos: 1 }] })
    await sub.client.expect("suback")
    await sub.client.disconnect()

    const { client: pub } = await RawClient.handshake(a.port, 5, { clientId: "disk-pub" })
    const acked: Array<number> = []
    let next = 0
    const publish = async (): Promise<number> => {
      const id = (next % 60000) + 1
      pub.sendPacket({ cmd: "publish", topic: "disk/x", payload: payload(next), qos: 1, messageId: id, retain: false, dup: false })
      const ack = await pub.expect("puback", 10_000)
      expect(ack.messageId).toBe(id)
      if ((ack.reasonCode ?? 0) === 0) acked.push(next)
      next++
      return ack.reasonCode ?? 0
    }
    for (let i = 0; i < 20; i++) expect(await publish()).toBe(0)

    const filler = fill(NodePath.dirname(dir), 256 * 1024)
    let refused = 0
    for (let i = 0; i < 400 && refused < 3; i++) if ((await publish()) === 0x80) refused++
    expect(refused).toBe(3) // 0x80 Unspecified error: storage could not keep it

    // MQTT 3.1.1 cannot refuse: the connection closes and nothing is acknowledged.
    const { client: v3 } = await RawClient.handshake(a.port, 4, { clientId: "disk-v3" })
    v3.sendPacket({ cmd: "publish", topic: "disk/v3", payload: payload(-1), qos: 1, messageId: 1, retain: false, dup: false })
    await v3.expectClosed(10_000)
    expect(v3.received.some((p) => p.cmd === "puback")).toBe(false)

    Fs.rmSync(filler)
    let accepted = false
    for (let i = 0; i < 50 && !accepted; i++) {
      accepted = (await publish()) === 0
      if (!accepted) await new Promise((r) => setTimeout(r, 200))
    }
    expect(accepted).toBe(true)
    for (let i = 0; i < 10; i++) expect(await publish()).toBe(0)
    await pub.destroy()

    await kill(a)
    // The log went through a full disk and a crash: every batch and index still checks out.
    const verify = spawnSync(process.execPath, [main, "log", "verify", "--data-dir", dir], { encoding: "utf8" })
    expect(verify.status, verify.stdout + verify.stderr).toBe(0)
    const b = await start(dir, { storage, port: a.port })
    const back = await RawClient.handshake(b.port, 5, { clientId: "disk-sub", ...persistent })
    const got = new Set<number>()
    while (got.size < acked.length) {
      const p = await back.client.expect("publish", 10_000)
      got.add(Number(String(p.payload).split(":")[0]))
      back.client.sendPacket({ cmd: "puback", messageId: p.messageId! })
    }
    expect([...got].filter((n) => acked.includes(n)).length).toBe(acked.length)
    await back.client.destroy()
  }, 120_000)
})
