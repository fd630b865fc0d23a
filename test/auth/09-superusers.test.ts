/**
 * `auth.superusers` on the MQTT side: a superuser's PUBLISH and SUBSCRIBE bypass the Mosquitto
 * ACL (as its Kafka requests bypass Kafka ACLs, test/kafka/23-acls.test.ts), while another user
 * under the same file is still held to its rules. Only an authenticated name counts.
 */
import { describe, expect, it } from "vitest"
import { connect } from "../support/clients.js"
import { useBrokers } from "../support/lifecycle.js"
import { authDir, writeAcl, writeUsers } from "./authFiles.js"

const life = useBrokers()
const dir = authDir()

describe("auth.superusers (MQTT)", () => {
  it("a superuser may publish and subscribe anywhere; others follow the ACL", async () => {
    const files = { passwordFile: writeUsers(dir, { root: "r1", bob: "b1" }), aclFile: writeAcl(dir, "user bob\ntopic readwrite bob/#\n") }
    const b = await life.broker({ auth: { allowAnonymous: false, superusers: ["root"], ...files } })
    const root = life.track(await connect(b.url, { protocolVersion: 5, username: "root", password: "r1", clientId: "root" }))
    const bob = life.track(await connect(b.url, { protocolVersion: 5, username: "bob", password: "b1", clientId: "bob" }))

    expect((await root.client.subscribeAsync("#", { qos: 1 }))[0]!.qos).toBe(1)
    expect((await root.client.subscribeAsync("secret/#", { qos: 1 }))[0]!.qos).toBe(1)
    await expect(bob.client.subscribeAsync("secret/#", { qos: 1 })).rejects.toThrow(/Not authorized/)

    const got: Array<string> = []
    root.client.on("message", (topic) => void got.push(topic))
    await root.client.publishAsync("anywhere/x", "r", { qos: 1 })
    await expect(bob.client.publishAsync("anywhere/y", "b", { qos: 1 })).rejects.toThrow(/Not authorized/)
    await bob.client.publishAsync("bob/z", "b", { qos: 1 })
    for (let i = 0; i < 100 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 20))
    expect(got).toEqual(["anywhere/x", "bob/z"])
  })
})
