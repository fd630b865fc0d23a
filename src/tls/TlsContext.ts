/**
 * The server side of every TLS listener: reads the [tls] files into secure-context options,
 * checks them before any listener opens (one line naming the setting to fix), and re-reads
 * them on SIGHUP, beside the auth reload, so certificates rotate without a restart: servers
 * registered here get the new context for new connections; a file that does not load keeps the
 * previous context and logs why. One context serves every TLS listener (MQTT, WebSocket, Kafka):
 * the files are checked once, and reloaded once per SIGHUP. Never touches a connection once its
 * handshake is done.
 */
import { readFileSync } from "node:fs"
import * as tls from "node:tls"
import { Context, Effect, Layer, Runtime, type Scope } from "effect"
import { BrokerConfig } from "../../config/BrokerConfig.js"
import type { BrokerConfigShape, TlsConfig } from "../../config/BrokerConfigShape.js"

export interface TlsContext {
  /** Options for tls.createServer / https.createServer: the context plus client verification. */
  readonly serverOptions: tls.TlsOptions
  /** `server` gets the re-read certificates on every SIGHUP until the scope closes. */
  readonly register: (server: tls.Server) => void
}

/** Which setting names a file, and the flag that sets it, for messages. */
const fileSettings = {
  certFile: ["tls.cert_file", "--tls-cert"],
  keyFile: ["tls.key_file", "--tls-key"],
  caFile: ["tls.ca_file", "--tls-ca"]
} as const

const readPem = (config: TlsConfig, which: keyof typeof fileSettings): Buffer => {
  const [key, flag] = fileSettings[which]
  try {
    return readFileSync(config[which])
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? String(cause)
    throw new Error(`cannot read ${key} ${config[which]} (${code}): check the path in ${key} or ${flag}`)
  }
}

/**
 * The certificate, key and CA as secure-context options, checked by building a context once.
 * Throws an Error whose message is the one line to show.
 */
const loadSecureOptions = (config: TlsConfig, enabledBy: string): tls.SecureContextOptions => {
  for (const which of ["certFile", "keyFile"] as const) {
    if (config[which] !== "") continue
    const [key, flag] = fileSettings[which]
    throw new Error(`${enabledBy} is set but ${key} is empty: add ${key} (or ${flag}) with the server's PEM ${which === "certFile" ? "certificate" : "private key"}; \`robustmq cert dev DIR\` writes a set to try`)
  }
  if (config.verifyClient !== "none" && config.caFile === "") {
    throw new Error(`tls.verify_client = "${config.verifyClient}" needs tls.ca_file (or --tls-ca): the PEM CA that signs client certificates`)
  }
  const options: tls.SecureContextOptions = {
    cert: readPem(config, "certFile"),
    key: readPem(config, "keyFile"),
    minVersion: config.minVersion,
    ...(config.caFile === "" ? {} : { ca: readPem(config, "caFile") })
  }
  try {
    tls.createSecureContext(options)
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause)
    throw new Error(`the [tls] files ${config.certFile}, ${config.keyFile}${config.caFile === "" ? "" : `, ${config.caFile}`} cannot be used (${reason}): check that they are PEM and that the key belongs to the certificate`)
  }
  return options
}

/** Fails with one readable line when the files are missing or unusable; `enabledBy` names the port setting. */
export const make = (config: TlsConfig, enabledBy: string): Effect.Effect<TlsContext, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const secure = yield* Effect.try({ try: () => loadSecureOptions(config, enabledBy), catch: (e) => e as Error })
    const servers = new Set<tls.Server>()
    const runtime = yield* Effect.runtime<never>()
    const onHangup = () => {
      if (servers.size === 0) return
      const reload = Effect.try({ try: () => loadSecureOptions(config, enabledBy), catch: (e) => e as Error }).pipe(
        Effect.tap((options) => Effect.sync(() => servers.forEach((server) => server.setSecureContext(options)))),
        Effect.zipRight(Effect.log("tls: certificate files reloaded; new connections use them")),
        Effect.catchAll((e) => Effect.logError(`tls reload failed, keeping the previous certificates: ${e.message}`))
      )
      Runtime.runFork(runtime)(reload)
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => process.on("SIGHUP", onHangup)),
      () => Effect.sync(() => process.off("SIGHUP", onHangup))
    )
    return {
      serverOptions: {
        ...secure,
        // Ask for a certificate unless "none"; refuse the handshake without a valid one if "required".
        requestCert: config.verifyClient !== "none",
        rejectUnauthorized: config.verifyClient === "required"
      },
      register: (server) => {
        servers.add(server)
      }
    }
  })

/** The settings that open a TLS listener, in the order a message names them; -1 = off. */
const listenerPorts = (config: BrokerConfigShape): ReadonlyArray<readonly [string, number]> => [
  ["mqtt.tls_port", config.mqtt.tlsPort],
  ["mqtt.wss_port", config.mqtt.wssPort],
  ["kafka.tls_port", config.kafka.enabled ? config.kafka.tlsPort : -1]
]

/** The one TlsContext of the broker; null when no TLS listener is configured. */
export class SharedTls extends Context.Tag("broker/SharedTls")<SharedTls, { readonly context: TlsContext | null }>() {}

/** Fails (one line naming the setting to add) when a TLS port is set without usable [tls] files. */
export const layer = Layer.scoped(
  SharedTls,
  Effect.gen(function*() {
    const config = yield* BrokerConfig
    const enabledBy = listenerPorts(config).find(([, port]) => port >= 0)?.[0]
    return { context: enabledBy === undefined ? null : yield* make(config.tls, enabledBy) }
  })
)
