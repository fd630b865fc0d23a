/**
 * Helpers for the auth broker tests: auth files in a temp dir (removed after the file's tests),
 * and the CONNACK code a client gets.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import mqtt, { type IClientOptions } from "mqtt"
import type { IConnackPacket, IConnectPacket } from "mqtt-packet"
import { afterAll } from "vitest"
import { hashPassword } from "../../src/auth/passwordHash.js"
import { RawClient, type Version } from "../support/RawClient.js"

export const fixturePasswords = new URL("../fixtures/auth/mosquitto.passwd", import.meta.url).pathname

/** A temp dir for this test file's auth files, removed after its tests. */
export const authDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), "robustmq-auth-"))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

let files = 0

/** One hash per user and password, so rewriting a file changes only the lines whose password changed. */
const hashes = new Map<string, string>()
const hashOf = (username: string, password: string): string => {
  const key = `${username}\u0000${password}`
  let hash = hashes.get(key)
  if (hash === undefined) hashes.set(key, (hash = hashPassword(password)))
  return hash
}

/** A password file with `users` (name -> password), hashed as `robustmq passwd` does. */
export const writeUsers = (dir: string, users: Record<string, string>, path = join(dir, `passwd-${files++}`)): string => {
  writeFileSync(path, Object.entries(users).map(([u, p]) => `${u}:${hashOf(u, p)}\n`).join(""))
  return path
}

export const writeAcl = (dir: string, text: string, path = join(dir, `acl-${files++}`)): string => {
  writeFileSync(path, text)
  return path
}

/** The CONNACK code MQTT.js reports: 0 when connected (then it disconnects), else the refusal. */
export const connackCode = (url: string, options: IClientOptions): Promise<number> =>
  new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options })
    client.once("connect", () => {
      client.end(true)
      resolve(0)
    })
    client.once("error", (e: Error & { code?: number }) => {
      client.end(true)
      if (typeof e.code === "number") resolve(e.code)
      else reject(e)
    })
    client.once("close", () => reject(new Error("closed without CONNACK")))
  })

/** A raw CONNECT; returns the CONNACK (v5 reason code or v3 return code in `code`) and the client. */
export const rawConnect = async (port: number, version: Version, connect: Partial<IConnectPacket>) => {
  const client = await RawClient.connect(port, version)
  client.sendPacket({ cmd: "connect", clientId: "", clean: true, keepalive: 0, ...connect, protocolVersion: version, protocolId: version === 3 ? "MQIsdp" : "MQTT" } as IConnectPacket)
  const connack = (await client.expect("connack")) as IConnackPacket
  return { client, connack, code: (version === 5 ? connack.reasonCode : connack.returnCode) ?? -1 }
}
