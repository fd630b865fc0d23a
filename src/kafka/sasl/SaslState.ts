/** Where a Kafka connection is in SASL (handlers/sasl.ts drives it, KafkaServer gates on it). */
export const SaslState = {
  /** No handshake yet. */
  Start: 0,
  /** SaslHandshake v0 agreed on a mechanism: the next frames are bare SASL messages, without a Kafka header. */
  HandshakeV0: 1,
  /** SaslHandshake v1 agreed on a mechanism: SaslAuthenticate follows (twice for SCRAM). */
  Handshake: 2,
  /** The password is being verified. */
  Authenticating: 3,
  Authenticated: 4,
  /** Refused: the connection ends once the refusal is written. */
  Failed: 5
} as const
export type SaslState = (typeof SaslState)[keyof typeof SaslState]
