/**
 * `robustmq publish TOPIC [MESSAGE] [--qos N] [--retain] [--base64] [--content-type T]
 * [--expiry S] [--property NAME=VALUE ...]`: an MQTT message from the broker itself, as a client
 * would send it (POST /api/v1/publish).
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { callApi, connectionOptions } from "./AdminClient.js"
import { printJson } from "./apiCommand.js"
import { choice, nameValuePairs, optionalText, wholeNumber } from "./flags.js"

const topic = Args.text({ name: "TOPIC" })
const message = Args.text({ name: "MESSAGE" }).pipe(Args.withDescription("the payload (default: empty)"), Args.optional)
const QOS = { "0": 0, "1": 1, "2": 2 } as const
const qos = choice("qos", ["0", "1", "2"], "MQTT QoS (default 0)").pipe(Options.withAlias("q"), Options.withDefault("0" as const))
const retain = Options.boolean("retain").pipe(Options.withAlias("r"), Options.withDescription("keep it as the topic's retained message"))
const base64 = Options.boolean("base64").pipe(Options.withDescription("MESSAGE is base64 bytes, not text"))
const contentType = optionalText("content-type", "TYPE", "MQTT 5 content type property")
const expiry = optionalText("expiry", "SECONDS", "MQTT 5 message expiry interval")
const property = Options.text("property").pipe(
  Options.withAlias("p"),
  Options.withPseudoName("NAME=VALUE"),
  Options.withDescription("an MQTT 5 user property; repeat for more"),
  Options.repeated
)

export const publish = Command.make(
  "publish",
  { ...connectionOptions, topic, message, qos, retain, base64, contentType, expiry, property },
  (flags) =>
    Effect.gen(function*() {
      const props = yield* nameValuePairs("property", flags.property)
      const expirySeconds = Option.isSome(flags.expiry) ? yield* wholeNumber("expiry", flags.expiry.value, 0) : undefined
      const properties = {
        ...(Option.isSome(flags.contentType) ? { contentType: flags.contentType.value } : {}),
        ...(expirySeconds === undefined ? {} : { messageExpiryInterval: expirySeconds }),
        ...(props === undefined ? {} : { userProperties: props })
      }
      const published = yield* callApi(flags, (api) =>
        api.publish.publish({
          payload: {
            topic: flags.topic,
            payload: Option.getOrElse(flags.message, () => ""),
            encoding: flags.base64 ? "base64" : "plain",
            qos: QOS[flags.qos],
            retain: flags.retain,
            ...(Object.keys(properties).length === 0 ? {} : { properties })
          }
        }))
      if (flags.output === "json") return yield* printJson(published)
      yield* Console.log(`published to ${published.topic}: ${published.subscribers} subscriber(s)${published.durable ? ", stored" : ""}`)
    })
).pipe(Command.withDescription("Publish an MQTT message from the broker (QoS, retain, MQTT 5 properties)"))
