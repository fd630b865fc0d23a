import { Context } from "effect"

/** Where the HTTP listener is bound: the port is -1 when it is off; the host may be loopback where http.host was not (no admin credentials). */
export class HttpListener extends Context.Tag("broker/HttpListener")<HttpListener, { readonly host: string; readonly port: number }>() {}
