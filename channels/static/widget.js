/* 12345 在线咨询 widget: one tag on any government page.
 *
 *   <script src="https://<rasa-server>/widget.js" async></script>
 *
 * Optional attributes on the tag: data-label="在线咨询" (button text), data-position="left".
 * The chat itself runs in an iframe served by the Rasa server (the page's own styles and
 * scripts cannot touch it, and the conversation is kept for that server's origin, so it
 * continues on every page of the site). Esc or the 关闭 button closes it and returns focus.
 */
(function () {
  "use strict";
  if (window.__hotline12345Widget) { return; }
  window.__hotline12345Widget = true;

  var script = document.currentScript || (function () {
    var all = document.getElementsByTagName("script");
    for (var i = all.length - 1; i >= 0; i--) {
      if (/\/widget\.js(\?|$)/.test(all[i].src)) { return all[i]; }
    }
    return null;
  })();
  if (!script) { return; }
  var origin = new URL(script.src, window.location.href).origin;
  var label = script.getAttribute("data-label") || "在线咨询";
  var side = script.getAttribute("data-position") === "left" ? "left" : "right";

  var style = document.createElement("style");
  style.textContent = [
    ".hl12345-launch{position:fixed;bottom:20px;" + side + ":20px;z-index:2147483000;",
    "min-height:56px;min-width:56px;padding:0 22px;border:3px solid #fff;border-radius:28px;",
    "background:#b3121f;color:#fff;font:700 20px/1 'PingFang SC','Microsoft YaHei',sans-serif;",
    "box-shadow:0 4px 14px rgba(0,0,0,.35);cursor:pointer}",
    ".hl12345-launch:focus-visible{outline:4px solid #ff9f1a;outline-offset:3px}",
    ".hl12345-frame{position:fixed;bottom:90px;" + side + ":20px;z-index:2147483000;",
    "width:420px;height:min(680px,calc(100vh - 110px));border:2px solid #b3121f;border-radius:12px;",
    "background:#fff;box-shadow:0 8px 30px rgba(0,0,0,.35)}",
    "@media (max-width:520px){.hl12345-frame{left:0;right:0;top:0;bottom:0;width:100%;height:100%;",
    "border:0;border-radius:0}}"
  ].join("");
  document.head.appendChild(style);

  var button = document.createElement("button");
  button.type = "button";
  button.className = "hl12345-launch";
  button.textContent = label;
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", "hl12345-frame");

  var frame = null;
  function open() {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.id = "hl12345-frame";
      frame.className = "hl12345-frame";
      frame.title = "12345 政务服务便民热线在线咨询";
      frame.src = origin + "/?embed=1";
      frame.setAttribute("allow", "clipboard-write");
      document.body.appendChild(frame);
    }
    frame.hidden = false;
    button.setAttribute("aria-expanded", "true");
    if (window.matchMedia("(max-width: 520px)").matches) { button.hidden = true; }
    frame.focus();
  }
  function close() {
    if (!frame) { return; }
    frame.hidden = true;
    button.hidden = false;
    button.setAttribute("aria-expanded", "false");
    button.focus();
  }
  button.addEventListener("click", function () {
    if (frame && !frame.hidden) { close(); } else { open(); }
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && frame && !frame.hidden) { close(); }
  });
  window.addEventListener("message", function (ev) {
    if (ev.origin === origin && ev.data && ev.data.type === "hotline12345:close") { close(); }
  });

  function mount() { document.body.appendChild(button); }
  if (document.body) { mount(); } else { document.addEventListener("DOMContentLoaded", mount); }
})();
