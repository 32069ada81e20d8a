// message.js: the page's one visible error line (#message, role=alert); no error goes unseen.

const line = document.getElementById("message-line");
const text = document.getElementById("message");

/** Show `error` (an Error or a string), prefixed with what the page was doing. */
export function showError(error, doing = "") {
  const said = error instanceof Error ? error.message : String(error);
  text.textContent = doing ? `${doing}: ${said}` : said;
  line.hidden = false;
}

function clearError() {
  text.textContent = "";
  line.hidden = true;
}

/** Run `work` (a function returning a promise) and show its error, if any. */
export async function reporting(doing, work) {
  try {
    return await work();
  } catch (error) {
    if (error.name !== "AbortError") showError(error, doing);
    return undefined;
  }
}

document.getElementById("message-close").addEventListener("click", clearError);
window.addEventListener("unhandledrejection", (event) => showError(event.reason, "Unexpected error"));
window.addEventListener("error", (event) => showError(event.error ?? event.message, "Unexpected error"));
