// dom.js: small DOM pieces the modules share: building elements, toggle state, telling typing from shortcuts.

/**
 * A new element. `attributes`: strings set as attributes, booleans add or leave out an empty
 * attribute, functions under "on<event>" become listeners; `children`: nodes or text.
 */
export function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, "");
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  node.append(...children);
  return node;
}

/** Set a toggle button's state: aria-pressed, which the CSS shows. */
export function setPressed(button, pressed) {
  button.setAttribute("aria-pressed", String(pressed));
}

/** Whether a key press belongs to the control it happened in (typing, choosing) rather than to the page. */
export function typingIn(target) {
  if (target.closest?.("select, textarea, dialog, [contenteditable=true]")) return true;
  return target.tagName === "INPUT" && !["range", "checkbox", "radio", "button"].includes(target.type);
}
