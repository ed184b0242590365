// The header's menus fold behind one "Menu" button on a phone (app.css: .js, .menu-open). Loaded in <head>:
// the class is set before the body is drawn, so a phone never shows the whole menu first; without script the
// menus simply stay open.
document.documentElement.classList.add("js");
document.addEventListener("DOMContentLoaded", () => {
  const header = document.querySelector("body > header");
  const toggle = header && header.querySelector(".menu-toggle");
  if (!toggle) return;
  toggle.addEventListener("click", () => {
    const open = header.classList.toggle("menu-open");
    toggle.setAttribute("aria-expanded", String(open));
  });
});
