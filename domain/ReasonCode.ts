/**
 * MQTT 5 reason codes and their MQTT 3.1.1 equivalents, in one table. Protocol outcomes are
 * these numbers, never exceptions (DESIGN.md section 7).
 */
export const ReasonCode = {
  Success: 0x00,
  GrantedQoS1: 0x01,
  GrantedQoS2: 0x02,
  DisconnectWithWill: 0x04,
  NoMatchingSubscribers: 0x10,
  NoSubscriptionExisted: 0x11,
  UnspecifiedError: 0x80,
  MalformedPacket: 0x81,
  ProtocolError: 0x82,
  ImplementationSpecificError: 0x83,
  UnsupportedProtocolVersion: 0x84,
  ClientIdentifierNotValid: 0x85,
  BadUserNameOrPassword: 0x86,
  NotAuthorized: 0x87,
  ServerUnavailable: 0x88,
  ServerBusy: 0x89,
  Banned: 0x8a,
  BadAuthenticationMethod: 0x8c,
  KeepAliveTimeout: 0x8d,
  SessionTakenOver: 0x8e,
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
  PacketIdentifierInUse: 0x91,
  PacketIdentifierNotFound: 0x92,
  ReceiveMaximumExceeded: 0x93,
  TopicAliasInvalid: 0x94,
  PacketTooLarge: 0x95,
  QuotaExceeded: 0x97,
  AdministrativeAction: 0x98,
  PayloadFormatInvalid: 0x99,
  RetainNotSupported: 0x9a,
  QoSNotSupported: 0x9b,
  UseAnotherServer: 0x9c,
  ServerShuttingDown: 0x8b,
  SharedSubscriptionsNotSupported: 0x9e,
  ConnectionRateExceeded: 0x9f,
  SubscriptionIdentifiersNotSupported: 0xa1,
  WildcardSubscriptionsNotSupported: 0xa2
} as const

/** MQTT 3.1 / 3.1.1 CONNACK return codes. */
export const ConnackV3 = {
  Accepted: 0,
  UnacceptableProtocolVersion: 1,
  IdentifierRejected: 2,
  ServerUnavailable: 3,
  BadUserNameOrPassword: 4,
  NotAuthorized: 5
} as const

/** The v3 CONNACK return code for a v5 CONNACK reason code. */
export const connackCodeV3 = (reason: number): number => {
  switch (reason) {
    case ReasonCode.Success:
      return ConnackV3.Accepted
    case ReasonCode.UnsupportedProtocolVersion:
      return ConnackV3.UnacceptableProtocolVersion
    case ReasonCode.ClientIdentifierNotValid:
      return ConnackV3.IdentifierRejected
    case ReasonCode.BadUserNameOrPassword:
      return ConnackV3.BadUserNameOrPassword
    case ReasonCode.NotAuthorized:
    case ReasonCode.Banned:
      return ConnackV3.NotAuthorized
    default:
      return ConnackV3.ServerUnavailable
  }
}

/** v3/v4 SUBACK has only 0, 1, 2 and 0x80 (failure). */
export const subackCodeV3 = (reason: number): number => (reason < 0x80 ? reason : 0x80)
