// The theme button: the page follows the system's light or dark setting (report.css's
// prefers-color-scheme query) until the reader picks one; the pick is data-theme on <html>,
// which report.css lets override the system's setting either way.
(function () {
  var root = document.documentElement;
  var button = document.getElementById("charlm-theme-button");
  var system = window.matchMedia("(prefers-color-scheme: dark)");
  function isDark() {
    var picked = root.getAttribute("data-theme");
    return picked ? picked === "dark" : system.matches;
  }
  function show() {
    button.setAttribute("aria-pressed", String(isDark()));
  }
  show();
  button.hidden = false;
  button.addEventListener("click", function () {
    root.setAttribute("data-theme", isDark() ? "light" : "dark");
    show();
  });
  // the system's setting can change while the page is open (a schedule, the reader)
  if (system.addEventListener) {
    system.addEventListener("change", show);
  }
})();
