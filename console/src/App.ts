/**
 * The console's shell: navigation on the left, the page for the current path on the right, and
 * the login screen whenever the API says 401.
 */
import { html } from "htm/preact"
import { useEffect, useState } from "preact/hooks"
import { request, setToken, setUnauthorizedHandler } from "./api.js"
import { Access } from "./pages/Access.js"
import { Clients } from "./pages/Clients.js"
import { Config } from "./pages/Config.js"
import { Events } from "./pages/Events.js"
import { Groups } from "./pages/Groups.js"
import { Login } from "./pages/Login.js"
import { MqttClient } from "./pages/MqttClient.js"
import { Overview } from "./pages/Overview.js"
import { RetainedPage } from "./pages/Retained.js"
import { Sessions } from "./pages/Sessions.js"
import { Subscriptions } from "./pages/Subscriptions.js"
import { Topics } from "./pages/Topics.js"
import { onLinkClick, usePath } from "./router.js"

interface Page {
  readonly path: string
  readonly title: string
  readonly view: () => unknown
}

export const PAGES: ReadonlyArray<Page> = [
  { path: "/", title: "Overview", view: () => html`<${Overview} />` },
  { path: "/console/clients", title: "Clients", view: () => html`<${Clients} />` },
  { path: "/console/sessions", title: "Sessions", view: () => html`<${Sessions} />` },
  { path: "/console/subscriptions", title: "Subscriptions", view: () => html`<${Subscriptions} />` },
  { path: "/console/topics", title: "Topics", view: () => html`<${Topics} />` },
  { path: "/console/retained", title: "Retained", view: () => html`<${RetainedPage} />` },
  { path: "/console/groups", title: "Consumer groups", view: () => html`<${Groups} />` },
  { path: "/console/access", title: "Users, ACL, bans", view: () => html`<${Access} />` },
  { path: "/console/events", title: "Events", view: () => html`<${Events} />` },
  { path: "/console/mqtt", title: "MQTT client", view: () => html`<${MqttClient} />` },
  { path: "/console/config", title: "Configuration", view: () => html`<${Config} />` }
]

const pageFor = (path: string): Page | undefined =>
  path === "/" || path === "/console" || path === "/console/" ? PAGES[0] : PAGES.find((p) => p.path !== "/" && (path === p.path || path.startsWith(p.path + "/")))

export const App = () => {
  const path = usePath()
  const [needsLogin, setNeedsLogin] = useState(false)
  useEffect(() => setUnauthorizedHandler(() => setNeedsLogin(true)), [])
  const page = pageFor(path)
  useEffect(() => {
    document.title = `${page?.title ?? "Not found"} · RobustMQ-TS`
  }, [page])
  return html`
    <div class="shell" onClick=${onLinkClick}>
      <nav class="nav">
        <a class="brand" href="/">RobustMQ-TS</a>
        ${PAGES.map((p) => html`<a href=${p.path} class=${p === page ? "active" : ""}>${p.title}</a>`)}
        <a class="external" href="/api/v1/openapi.json" target="_blank">API (OpenAPI)</a>
        <a class="external" href="/metrics" target="_blank">/metrics</a>
        <button type="button" class="link nav-button" name="signout" onClick=${signOut}>Sign out</button>
      </nav>
      <main class="main">
        ${needsLogin
          ? html`<${Login} onDone=${() => setNeedsLogin(false)} />`
          : page === undefined
          ? html`<div class="page"><h2>Not found</h2><p>No console page at ${path}.</p></div>`
          : html`<${ViewOf} page=${page} key=${page.path} />`}
      </main>
    </div>`
}

/** Ends the console session (cookie) and forgets the token; the next request asks again. */
const signOut = async () => {
  setToken(null)
  await request("POST", "/api/v1/logout").catch(() => {})
  location.assign("/")
}

const ViewOf = ({ page }: { page: Page }) => page.view()
