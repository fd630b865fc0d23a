/** The console's entry: styles, then the shell rendered into #app. */
import "uplot/dist/uPlot.min.css"
import "./style.css"
import { html, render } from "htm/preact"
import { App } from "./App.js"

render(html`<${App} />`, document.getElementById("app")!)
