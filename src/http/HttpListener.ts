import { Context } from "effect"

/** The bound HTTP port (-1 when the listener is off). */
export class HttpListener extends Context.Tag("broker/HttpListener")<HttpListener, { readonly port: number }>() {}
