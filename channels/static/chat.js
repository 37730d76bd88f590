/* 12345 web chat page: socket.io to the Rasa server (channels/socketio.py).
 *
 * - The session (id + server signature) is issued by the server and kept in localStorage, so a
 *   reload continues the same conversation; the server replays its history.
 * - Every message the citizen sends waits in an outbox (also in localStorage) until the server
 *   acknowledges it; after a network drop or a reload it is sent again with the same id, and the
 *   server answers it once. Nothing typed is silently lost.
 * - Texts are rendered as text (never as HTML); only http(s) links and a few public hotline
 *   numbers become links, opened in a new tab without access to this page.
 */
(function () {
  "use strict";

  var SESSION_KEY = "hotline12345.session";
  var OUTBOX_KEY = "hotline12345.outbox";
  var PREFS_KEY = "hotline12345.prefs";
  var ACK_TIMEOUT_MS = 60000;
  var PUBLIC_NUMBERS = /(^|[^\d-])(110|119|120|122|12345|12356|12348|12315|12333|12329)(?![\d-])/;
  var URL_RE = /https?:\/\/[^\s，。；！？、）)」》"'<>\u3000]+/;

  var root = document.documentElement;
  var logEl = document.getElementById("log");
  var mainEl = document.querySelector(".main");
  var connEl = document.getElementById("conn");
  var typingEl = document.getElementById("typing");
  var form = document.getElementById("form");
  var input = document.getElementById("input");
  var bigBtn = document.getElementById("big");
  var contrastBtn = document.getElementById("contrast");
  var closeBtn = document.getElementById("close");
  var params = new URLSearchParams(window.location.search);

  var sessionId = null;
  var confirmed = false;
  var sending = false;
  var seen = Object.create(null);
  var outbox = [];

  // ------------------------------------------------------------------ storage (private mode safe)
  function load(key, fallback) {
    try {
      var raw = window.localStorage.getItem(key);
      return raw ? JSON.parse(raw) : fallback;
    } catch (e) {
      return fallback;
    }
  }
  function save(key, value) {
    try {
      window.localStorage.setItem(key, JSON.stringify(value));
    } catch (e) { /* storage full or disabled: the page still works for this visit */ }
  }
  function forget(key) {
    try { window.localStorage.removeItem(key); } catch (e) { /* ignore */ }
  }

  function newId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // ------------------------------------------------------------------ display settings (适老化)
  var prefs = load(PREFS_KEY, {});
  function applyPrefs() {
    root.classList.toggle("big", !!prefs.big);
    root.classList.toggle("contrast", !!prefs.contrast);
    bigBtn.setAttribute("aria-pressed", prefs.big ? "true" : "false");
    contrastBtn.setAttribute("aria-pressed", prefs.contrast ? "true" : "false");
    if (mainEl) { mainEl.scrollTop = mainEl.scrollHeight; }  // larger text: keep the latest in view
  }
  bigBtn.addEventListener("click", function () { prefs.big = !prefs.big; save(PREFS_KEY, prefs); applyPrefs(); });
  contrastBtn.addEventListener("click", function () { prefs.contrast = !prefs.contrast; save(PREFS_KEY, prefs); applyPrefs(); });
  applyPrefs();

  if (params.get("embed") === "1") {
    closeBtn.hidden = false;
    var closeWidget = function () { window.parent.postMessage({ type: "hotline12345:close" }, "*"); };
    closeBtn.addEventListener("click", closeWidget);
    document.addEventListener("keydown", function (ev) { if (ev.key === "Escape") { closeWidget(); } });
  }

  // ------------------------------------------------------------------ rendering
  function two(n) { return (n < 10 ? "0" : "") + n; }
  function when(iso) {
    var d = iso ? new Date(iso) : new Date();
    if (isNaN(d.getTime())) { d = new Date(); }
    return d;
  }
  function timeEl(d) {
    var t = document.createElement("time");
    t.dateTime = d.toISOString();
    t.textContent = two(d.getHours()) + ":" + two(d.getMinutes());
    return t;
  }
  function dayText(d) { return d.getFullYear() + "年" + (d.getMonth() + 1) + "月" + d.getDate() + "日"; }

  function linkify(parent, text) {
    var rest = text;
    while (rest.length) {
      var u = URL_RE.exec(rest);
      var p = PUBLIC_NUMBERS.exec(rest);
      var pStart = p ? p.index + p[1].length : -1;
      if (!u && !p) { parent.appendChild(document.createTextNode(rest)); return; }
      var a = document.createElement("a");
      var start, len;
      if (u && (!p || u.index <= pStart)) {
        start = u.index; len = u[0].length;
        a.href = u[0];
        a.target = "_blank";
        a.rel = "noopener noreferrer nofollow";
        a.textContent = u[0];
      } else {
        start = pStart; len = p[2].length;
        a.href = "tel:" + p[2];
        a.textContent = p[2];
        a.setAttribute("aria-label", "拨打 " + p[2].split("").join(" "));
      }
      if (start > 0) { parent.appendChild(document.createTextNode(rest.slice(0, start))); }
      parent.appendChild(a);
      rest = rest.slice(start + len);
    }
  }

  var lastDay = null;
  function place(li) {
    // new history entries go above the citizen's messages still waiting to be sent
    var firstPending = logEl.querySelector("li.pending");
    if (firstPending && !li.classList.contains("pending")) {
      logEl.insertBefore(li, firstPending);
    } else {
      logEl.appendChild(li);
    }
  }
  function maybeDay(d) {
    var key = dayText(d);
    if (key === lastDay) { return; }
    lastDay = key;
    var li = document.createElement("li");
    li.className = "day";
    li.textContent = key;
    place(li);
  }
  function scrollDown() { mainEl.scrollTop = mainEl.scrollHeight; }

  function disableOlderReplies() {
    var groups = logEl.querySelectorAll(".replies");
    for (var i = 0; i < groups.length; i++) {
      var btns = groups[i].querySelectorAll("button");
      for (var j = 0; j < btns.length; j++) { btns[j].disabled = true; }
    }
  }

  function render(entry) {
    if (!entry || !entry.id || seen[entry.id]) { return seen[entry && entry.id]; }
    var d = when(entry.at);
    maybeDay(d);
    var li = document.createElement("li");
    li.dataset.id = entry.id;
    if (entry.from === "system") {
      li.className = "sys";
      var span = document.createElement("span");
      span.className = "sys-text";
      span.textContent = entry.text || "";
      li.appendChild(span);
      li.appendChild(timeEl(d));
      place(li);
      seen[entry.id] = li;
      scrollDown();
      return li;
    }
    var who = document.createElement("span");
    who.className = "who";
    var bubble = document.createElement("div");
    bubble.className = "bubble";
    if (entry.from === "citizen") {
      li.className = "msg me";
      who.textContent = "我";
      bubble.textContent = entry.text || "";
    } else if (entry.from === "agent") {
      li.className = "msg agent";
      who.textContent = "人工客服" + (entry.agent ? " · " + entry.agent : "") + "（工作人员）";
      linkify(bubble, entry.text || "");
    } else {
      li.className = "msg bot";
      who.textContent = "智能客服";
      linkify(bubble, entry.text || "");
    }
    li.appendChild(who);
    li.appendChild(bubble);
    li.appendChild(timeEl(d));
    var replies = entry.quick_replies || entry.buttons || [];
    if (replies.length) {
      var group = document.createElement("div");
      group.className = "replies";
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", "可选回复");
      replies.forEach(function (r) {
        var b = document.createElement("button");
        b.type = "button";
        b.className = "chip";
        b.textContent = r.title;
        b.addEventListener("click", function () {
          if (b.disabled) { return; }
          disableOlderReplies();
          b.classList.add("chosen");
          b.setAttribute("aria-pressed", "true");
          submit(r.payload || r.title, r.title);
          input.focus();
        });
        group.appendChild(b);
      });
      li.appendChild(group);
    }
    place(li);
    seen[entry.id] = li;
    scrollDown();
    return li;
  }

  function renderPending(item) {
    var li = render({ id: item.id, at: item.at, from: "citizen", text: item.title || item.message });
    if (li && !li.classList.contains("sent")) {
      setState(item.id, "pending");
      logEl.appendChild(li);  // waiting messages stay at the end, in the order they were typed
      scrollDown();
    }
  }
  function setState(id, state) {
    // pending: waiting in the outbox; inflight: sent, not yet acknowledged (its answers go below it)
    var li = seen[id];
    if (!li || li.classList.contains("sent")) { return; }
    li.classList.toggle("pending", state === "pending");
    li.classList.toggle("inflight", state === "inflight");
    var s = li.querySelector(".state");
    if (!s) {
      s = document.createElement("span");
      s.className = "state";
      li.appendChild(s);
    }
    s.textContent = state === "pending" ? "等待发送" : "发送中…";
  }
  function markSent(id) {
    var li = seen[id];
    if (!li) { return; }
    li.classList.remove("pending");
    li.classList.remove("inflight");
    li.classList.add("sent");
    var s = li.querySelector(".state");
    if (s) { s.remove(); }
  }
  function markFailed(id) {
    var li = seen[id];
    if (!li) { return; }
    li.classList.remove("pending");
    var s = li.querySelector(".state") || document.createElement("span");
    s.className = "state";
    s.textContent = "未能发送，请修改后重试";
    li.appendChild(s);
  }

  // ------------------------------------------------------------------ connection status
  function setConn(state) {
    if (state === "ok") {
      connEl.hidden = true;
      connEl.textContent = "";
      return;
    }
    connEl.hidden = false;
    connEl.textContent = state === "down"
      ? "网络连接已中断，正在重新连接…您输入的消息会先保存，连接恢复后自动发出。"
      : "正在连接在线咨询服务…";
  }
  function showTyping(on) { typingEl.hidden = !on; if (on) { scrollDown(); } }

  // ------------------------------------------------------------------ sending (outbox)
  outbox = load(OUTBOX_KEY, []).filter(function (m) { return m && m.id && typeof m.message === "string"; });

  function submit(message, title) {
    var item = { id: newId(), message: message, title: title || null, at: new Date().toISOString() };
    outbox.push(item);
    save(OUTBOX_KEY, outbox);
    renderPending(item);
    flush();
  }

  function flush() {
    if (sending || !confirmed || !outbox.length || !socket.connected) { return; }
    var item = outbox[0];
    sending = true;
    setState(item.id, "inflight");
    showTyping(true);
    socket.timeout(ACK_TIMEOUT_MS).emit(
      "user_uttered",
      { message: item.message, id: item.id, title: item.title, session_id: sessionId },
      function (err, ack) {
        sending = false;
        showTyping(false);
        if (err) {
          setState(item.id, "pending");
          // no answer (connection lost or server busy): keep it; it goes again with the same id
          if (socket.connected) { window.setTimeout(flush, 2000); }
          return;
        }
        if (ack && ack.ok) {
          outbox.shift();
          save(OUTBOX_KEY, outbox);
          markSent(item.id);
          flush();
        } else if (ack && (ack.error === "no_session" || ack.error === "wrong_session")) {
          confirmed = false;
          requestSession();
        } else {
          outbox.shift();
          save(OUTBOX_KEY, outbox);
          markFailed(item.id);
          flush();
        }
      }
    );
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) { input.focus(); return; }
    input.value = "";
    disableOlderReplies();
    submit(text, null);
    input.focus();
  });
  input.addEventListener("keydown", function (ev) {
    // Enter sends; Shift+Enter is a new line; never while an input method is composing (拼音)
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
      ev.preventDefault();
      form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit", { cancelable: true }));
    }
  });

  // ------------------------------------------------------------------ socket
  var socket = window.io({
    path: "/socket.io",
    transports: ["websocket", "polling"],
    tryAllTransports: true,
    reconnection: true,
    reconnectionDelay: 1000,
    reconnectionDelayMax: 5000,
    timeout: 10000
  });

  function requestSession() {
    var s = load(SESSION_KEY, null);
    socket.emit("session_request", s && s.session_id ? { session_id: s.session_id, token: s.token } : {});
  }

  setConn("connecting");
  socket.on("connect", function () {
    requestSession();
  });
  socket.on("session_refused", function () {
    // the stored session is not valid (any more): start afresh, keep what is still unsent
    forget(SESSION_KEY);
    Array.prototype.slice.call(logEl.querySelectorAll("li:not(.pending)")).forEach(function (li) { li.remove(); });
    seen = Object.create(null);
    outbox.forEach(function (m) { seen[m.id] = logEl.querySelector('li[data-id="' + m.id + '"]'); });
    lastDay = null;
  });
  socket.on("session_confirm", function (s) {
    if (s && typeof s === "object" && s.session_id) {
      sessionId = s.session_id;
      save(SESSION_KEY, { session_id: s.session_id, token: s.token });
    }
    confirmed = true;
    setConn("ok");
  });
  socket.on("history", function (h) {
    var messages = (h && h.messages) || [];
    var lastCitizen = -1;
    messages.forEach(function (m, i) {
      render(m);
      if (m.from === "citizen") { lastCitizen = i; markSent(m.id); }
    });
    // buttons already answered (a citizen message came after them) stay disabled after a reload
    messages.slice(0, lastCitizen + 1).forEach(function (m) {
      var li = seen[m.id];
      if (li) { Array.prototype.forEach.call(li.querySelectorAll(".replies button"), function (b) { b.disabled = true; }); }
    });
    outbox.forEach(renderPending);
    flush();
  });
  socket.on("bot_uttered", function (m) {
    if (typeof m === "string") { m = { text: m }; }
    if (!m.id) { m.id = newId(); }
    render(m);
  });
  socket.on("disconnect", function (reason) {
    confirmed = false;
    sending = false;
    if (outbox.length) { setState(outbox[0].id, "pending"); }
    showTyping(false);
    setConn("down");
    if (reason === "io server disconnect") { socket.connect(); }  // not retried by the client itself
  });
  socket.io.on("reconnect_attempt", function () { setConn("down"); });

  window.hotline12345 = {
    // for tests and the embedding widget: read-only facts about this page's state
    session: function () { return sessionId; },
    pending: function () { return outbox.length; },
    connected: function () { return confirmed && socket.connected; }
  };
})();
