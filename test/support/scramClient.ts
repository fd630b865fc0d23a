/**
 * A minimal SCRAM client for tests that drive the exchange by hand (raw Kafka frames, RFC
 * examples): builds client-first and, from the server-first, client-final, and checks the
 * server-final signature.
 */
import { createHmac, pbkdf2Sync, randomBytes } from "node:crypto"
import { clientProof, digestBytes, type ScramHash } from "../../src/auth/scramKeys.js"
import { encodeSaslName } from "../../src/kafka/sasl/scramMessages.js"

export class ScramClient {
  readonly gs2Header: string
  readonly clientFirstBare: string
  private authMessage = ""
  private salt = Buffer.alloc(0)
  private iterations = 0

  constructor(
    private readonly hash: ScramHash,
    readonly username: string,
    private readonly password: string,
    readonly clientNonce: string = randomBytes(18).toString("base64"),
    authzid: string | null = null
  ) {
    this.gs2Header = `n,${authzid === null ? "" : `a=${encodeSaslName(authzid)}`},`
    this.clientFirstBare = `n=${encodeSaslName(username)},r=${clientNonce}`
  }

  clientFirst(): string {
    return this.gs2Header + this.clientFirstBare
  }

  /** The client-final for `serverFirst` (`r=..,s=..,i=..`); `nonce` overrides the echoed nonce. */
  clientFinal(serverFirst: string, nonce?: string): string {
    const attrs = Object.fromEntries(serverFirst.split(",").map((p) => [p[0], p.slice(2)]))
    this.salt = Buffer.from(attrs["s"]!, "base64")
    this.iterations = Number(attrs["i"])
    const withoutProof = `c=${Buffer.from(this.gs2Header).toString("base64")},r=${nonce ?? attrs["r"]}`
    this.authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`
    const proof = clientProof(this.hash, this.password, this.salt, this.iterations, this.authMessage)
    return `${withoutProof},p=${proof.toString("base64")}`
  }

  /** The `v=` the server must answer with. */
  expectedServerFinal(): string {
    const salted = pbkdf2Sync(this.password, this.salt, this.iterations, digestBytes(this.hash), this.hash)
    const serverKey = createHmac(this.hash, salted).update("Server Key").digest()
    return `v=${createHmac(this.hash, serverKey).update(this.authMessage).digest("base64")}`
  }
}
