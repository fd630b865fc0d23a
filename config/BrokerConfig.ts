/**
 * The BrokerConfig service: the resolved configuration every layer reads.
 * (Loading from TOML / env / flags lives in config/loadConfig.ts.)
 */
import { Context, Layer } from "effect"
import type { BrokerConfigShape } from "./BrokerConfigShape.js"

export class BrokerConfig extends Context.Tag("broker/BrokerConfig")<BrokerConfig, BrokerConfigShape>() {}

export const layer = (config: BrokerConfigShape): Layer.Layer<BrokerConfig> => Layer.succeed(BrokerConfig, config)
