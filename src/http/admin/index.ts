/**
 * Every admin route group's handlers, with the auth middleware they share. A new group: its
 * api.ts added to BrokerApi (src/http/Api.ts), its handlers here.
 */
import { Layer } from "effect"
import { authLayer } from "./AdminAuth.js"
import { AccessLive } from "./access/handlers.js"
import { BansLive } from "./bans/handlers.js"
import { ClientsLive } from "./clients/handlers.js"
import { ClusterLive } from "./cluster/handlers.js"
import { EventsLive } from "./events/handlers.js"
import { KafkaLive } from "./kafka/handlers.js"
import { LoginLive, LogoutLive } from "./login/handlers.js"
import { OverviewLive } from "./overview/handlers.js"
import { PublishLive } from "./publish/handlers.js"
import { RetainedLive } from "./retained/handlers.js"
import { SessionsLive } from "./sessions/handlers.js"
import { TopicsLive } from "./topics/handlers.js"
import { SubscriptionsLive } from "./subscriptions/handlers.js"

export const AdminLive = Layer.mergeAll(
  LoginLive,
  LogoutLive,
  OverviewLive,
  ClientsLive,
  SessionsLive,
  SubscriptionsLive,
  TopicsLive,
  RetainedLive,
  PublishLive,
  AccessLive,
  EventsLive,
  KafkaLive,
  BansLive,
  ClusterLive
).pipe(Layer.provide(authLayer))
