"use strict";
// 12345 坐席工作台: the queue, one ticket, live updates (EventSource on /api/events).
// Everything shown is set with textContent: nothing a citizen typed is ever parsed as HTML.
(function () {
  var me = null;
  var current = null; // the ticket on screen
  var pendingText = null; // reply waiting for "确认仍然发送"
  var queueTimer = null;
  var cannedItems = [];
  // the vocabulary (GET /api/labels): the Chinese names the supervision report shows too, and
  // the status values by name (STATUS.CLOSED)
  var LABELS = { status: {}, kind: {}, channel: {}, from: {}, priority: {} };
  var STATUS = {};
  var $ = function (id) { return document.getElementById(id); };

  function api(method, path, body) {
    var headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (me && method !== "GET") headers["X-CSRF-Token"] = me.csrf;
    return fetch(path, {
      method: method, headers: headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (r) {
      if (r.status === 401) { location.href = "/login"; throw new Error("unauthorized"); }
      return r.json().catch(function () { return {}; }).then(function (data) { return { status: r.status, data: data }; });
    });
  }

  function toast(text) {
    var t = $("toast");
    t.textContent = text; t.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { t.hidden = true; }, 4000);
  }

  function fmtTime(iso) {
    if (!iso) return "—";
    var d = new Date(iso);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return (d.getMonth() + 1) + "月" + d.getDate() + "日 " + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  function ago(iso) {
    var mins = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 60000));
    if (mins < 1) return "刚刚";
    if (mins < 60) return mins + "分钟";
    var h = Math.floor(mins / 60);
    if (h < 48) return h + "小时" + (mins % 60 ? (mins % 60) + "分" : "");
    return Math.floor(h / 24) + "天";
  }

  function label(table, value) {
    return (LABELS[table] || {})[value] || value;
  }

  function option(value, text) {
    var o = el("option", null, text);
    o.value = value;
    return o;
  }

  // the status and priority filters, in the vocabulary's order and words; first "待办", the
  // statuses still waiting for an agent (待认领+办理中), which the queue shows by default
  function fillFilters() {
    var open = Object.keys(LABELS.status).filter(function (s) { return s !== STATUS.CLOSED; });
    var status = $("f-status");
    var all = status.firstElementChild;
    var todo = option(open.join(","), "待办（" + open.map(function (s) { return label("status", s); }).join("+") + "）");
    todo.selected = true;
    status.insertBefore(todo, all);
    Object.keys(LABELS.status).forEach(function (s) { status.insertBefore(option(s, label("status", s)), all); });
    var priority = $("f-priority");
    Object.keys(LABELS.priority).forEach(function (p) { priority.appendChild(option(p, label("priority", p))); });
  }

  function slaText(t) {
    if (t.status === STATUS.CLOSED) return { text: label("status", t.status), late: false };
    var left = Math.round((new Date(t.sla_due_at).getTime() - Date.now()) / 60000);
    if (left < 0) return { text: "已超时" + ago(t.sla_due_at), late: true };
    return { text: "剩" + (left < 60 ? left + "分钟" : Math.floor(left / 60) + "小时" + (left % 60) + "分"), late: left < 5 };
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  // ---------------------------------------------------------------- queue
  function filters() {
    var p = new URLSearchParams({ order: "queue", brief: "1", limit: "300" });
    ["status", "priority", "department"].forEach(function (k) {
      var v = $("f-" + k).value;
      if (v) p.set(k, v);
    });
    return p.toString();
  }

  function loadQueue(highlight) {
    return api("GET", "/api/tickets?" + filters()).then(function (res) {
      var body = $("queue-body");
      body.textContent = "";
      var list = Array.isArray(res.data) ? res.data : [];
      list.forEach(function (t) {
        var tr = el("tr", "row-" + t.priority + (current && current.id === t.id ? " selected" : "") + (highlight === t.id ? " fresh" : ""));
        tr.dataset.id = t.id;
        tr.tabIndex = 0;
        tr.setAttribute("role", "link");
        tr.setAttribute("aria-label", "工单 " + t.id + " " + t.summary);
        tr.appendChild(el("td")).appendChild(el("span", "prio prio-" + t.priority, t.priority));
        tr.appendChild(el("td", "mono nowrap", t.id));
        tr.appendChild(el("td", "summary-cell", t.summary));
        tr.appendChild(el("td", null, t.department_name || t.department));
        tr.appendChild(el("td", "nowrap", label("status", t.status)));
        tr.appendChild(el("td", "nowrap", ago(t.created_at)));
        var s = slaText(t);
        tr.appendChild(el("td", "nowrap" + (s.late ? " late" : ""), s.text));
        tr.addEventListener("click", function () { location.hash = "#/t/" + t.id; });
        tr.addEventListener("keydown", function (e) { if (e.key === "Enter") location.hash = "#/t/" + t.id; });
        body.appendChild(tr);
      });
      $("queue-empty").hidden = list.length > 0;
      var open = list.filter(function (t) { return t.status === STATUS.NEW; }).length;
      $("queue-count").textContent = "（" + list.length + "）";
      document.title = (open ? "(" + open + ") " : "") + "12345 坐席工作台";
    });
  }

  function refreshQueueSoon(highlight) {
    clearTimeout(queueTimer);
    queueTimer = setTimeout(function () { loadQueue(highlight); }, 150);
  }

  // ---------------------------------------------------------------- one ticket
  function openTicket(id) {
    return api("GET", "/api/tickets/" + encodeURIComponent(id)).then(function (res) {
      if (res.status !== 200) { toast(res.data.message || "无法打开工单"); return; }
      current = res.data;
      render();
      loadCanned("");
      Array.prototype.forEach.call(document.querySelectorAll("#queue-body tr"), function (tr) {
        tr.classList.toggle("selected", tr.dataset.id === id);
      });
    });
  }

  function render() {
    var t = current;
    $("ticket-empty").hidden = true;
    $("ticket-view").hidden = false;
    $("t-id").textContent = t.id;
    var p = $("t-priority"); p.textContent = t.priority; p.className = "prio prio-" + t.priority;
    var st = $("t-status"); st.textContent = label("status", t.status); st.className = "status status-" + t.status;
    $("t-online").hidden = !t.handed_off_now;
    $("t-summary").textContent = t.summary;
    $("t-kind").textContent = label("kind", t.kind) + " · " + t.topic;
    $("t-department").textContent = t.department_name || t.department;
    $("t-reason").textContent = t.reason_text || "—";
    $("t-channel").textContent = label("channel", t.channel);
    $("t-created").textContent = fmtTime(t.created_at);
    var s = slaText(t);
    var sla = $("t-sla"); sla.textContent = fmtTime(t.sla_due_at) + "（" + s.text + "）"; sla.className = s.late ? "late" : "";
    $("t-claimed").textContent = t.claimed_by || "未认领";
    $("t-location").textContent = t.location || "未提供";
    $("t-contact").textContent = t.contact || "未提供";
    $("reveal").hidden = !t.contact;
    $("t-description").textContent = t.description || "—";
    $("t-resolution").textContent = t.resolution || "—";
    $("t-satisfaction").textContent = t.satisfaction
      ? t.satisfaction + (t.satisfaction_comment ? "：“" + t.satisfaction_comment + "”" : "")
      : (t.status === STATUS.CLOSED ? "等待市民评价" : "—");
    var f = t.forwarding;
    $("t-forwarding").textContent = !f ? "未启用" : f.state === "delivered" ? "已转发" : f.state === "failed" ? "被拒绝：" + (f.last_error || "") : "待转发（已尝试" + f.attempts + "次）";
    var closed = t.status === STATUS.CLOSED;
    $("claim").hidden = t.status !== STATUS.NEW;
    $("reply-form").hidden = closed;
    $("close-form").hidden = closed;
    renderTranscript();
    renderNotes();
  }

  function bubble(e) {
    var li = el("li", "msg msg-" + e.from);
    var who = label("from", e.from);
    if (e.from === "agent" && e.agent) who += "（" + e.agent + "）";
    li.appendChild(el("span", "who", who + " · " + fmtTime(e.at)));
    li.appendChild(el("p", "text", e.text));
    return li;
  }

  function renderTranscript() {
    var ol = $("transcript");
    ol.textContent = "";
    (current.transcript || []).forEach(function (e) { ol.appendChild(bubble(e)); });
    ol.scrollTop = ol.scrollHeight;
  }

  function renderNotes() {
    var ul = $("notes");
    ul.textContent = "";
    (current.notes || []).forEach(function (n) {
      var li = el("li", null);
      li.appendChild(el("span", "who", n.agent + " · " + fmtTime(n.at)));
      li.appendChild(el("p", "text", n.text));
      ul.appendChild(li);
    });
    if (!(current.notes || []).length) ul.appendChild(el("li", "muted", "暂无备注"));
  }

  function addLine(entry) {
    if (!current) return;
    current.transcript = current.transcript || [];
    current.transcript.push(entry);
    var ol = $("transcript");
    ol.appendChild(bubble(entry));
    ol.scrollTop = ol.scrollHeight;
  }

  function showBanner(text, callback) {
    $("banner-text").textContent = text;
    $("to-callback").hidden = !callback;
    $("banner").hidden = false;
  }

  function send(text, confirm) {
    $("send").disabled = true;
    return api("POST", "/api/tickets/" + encodeURIComponent(current.id) + "/reply", { text: text, confirm: !!confirm }).then(function (res) {
      $("send").disabled = false;
      if (res.status === 200) {
        $("reply-text").value = "";
        $("warnings").hidden = true;
        $("banner").hidden = true;
        pendingText = null;
        if (!current.transcript.some(function (e) { return e.from === "agent" && e.at === res.data.entry.at && e.text === res.data.entry.text; })) addLine(res.data.entry);
        if (current.status === STATUS.NEW) openTicket(current.id);
        toast("已发送");
      } else if (res.status === 422) {
        pendingText = text;
        var ul = $("warning-list"); ul.textContent = "";
        (res.data.problems || []).forEach(function (p) { ul.appendChild(el("li", null, p)); });
        $("warnings").hidden = false;
      } else {
        showBanner(res.data.message || "发送失败", !!res.data.callback);
      }
    });
  }

  function loadCanned(q) {
    var params = new URLSearchParams({ q: q || "" });
    if (current) params.set("ticket_id", current.id);
    api("GET", "/api/canned?" + params.toString()).then(function (res) {
      cannedItems = Array.isArray(res.data) ? res.data : [];
      var sel = $("canned");
      sel.textContent = "";
      sel.appendChild(el("option", null, cannedItems.length ? "— 插入标准答复（" + cannedItems.length + "条）—" : "— 没有匹配的标准答复 —")).value = "";
      cannedItems.forEach(function (c, i) { var o = el("option", null, c.title); o.value = String(i); sel.appendChild(o); });
    });
  }

  // ---------------------------------------------------------------- live
  function connectLive() {
    var es = new EventSource("/api/events");
    var live = $("live");
    es.onopen = function () { live.textContent = "实时连接正常"; live.className = "live on"; };
    es.onerror = function () { live.textContent = "实时连接已断开，正在重连…"; live.className = "live off"; };
    function on(type, fn) { es.addEventListener(type, function (m) { try { fn(JSON.parse(m.data)); } catch (err) { /* ignore */ } }); }
    on("ticket_new", function (e) { refreshQueueSoon(e.ticket_id); toast("新工单 " + e.ticket_id + (e.priority === "P0" ? "（P0 危机，请立即处理）" : "")); });
    on("crisis", function (e) { refreshQueueSoon(e.ticket_id); });
    ["ticket_claimed", "ticket_closed", "ticket_updated", "ticket_rated"].forEach(function (type) {
      on(type, function (e) {
        refreshQueueSoon();
        if (current && current.id === e.ticket_id) openTicket(current.id);
      });
    });
    on("ticket_escalated", function (e) {
      refreshQueueSoon(e.ticket_id);
      if (current && current.id === e.ticket_id) { openTicket(current.id); showBanner("市民消息触发危机识别，工单已升级为 " + e.priority + "，请立即处理。", false); }
    });
    on("citizen_message", function (e) {
      if (current && current.id === e.ticket_id) addLine({ at: new Date().toISOString(), from: "citizen", text: e.text });
      else toast("工单 " + e.ticket_id + " 有市民新消息");
      refreshQueueSoon();
    });
    on("agent_message", function (e) {
      if (current && current.id === e.ticket_id && !(current.transcript || []).some(function (x) { return x.from === "agent" && x.at === e.at; })) {
        addLine({ at: e.at, from: "agent", agent: e.agent, text: e.text });
      }
    });
    on("note_added", function (e) { if (current && current.id === e.ticket_id) openTicket(current.id); });
    on("delivery_failed", function (e) { if (current && current.id === e.ticket_id) openTicket(current.id); });
    on("forward_failed", function (e) { if (current && current.id === e.ticket_id) openTicket(current.id); });
  }

  // ---------------------------------------------------------------- wiring
  function route() {
    var m = location.hash.match(/^#\/t\/([\w-]+)$/);
    $("banner").hidden = true;
    $("warnings").hidden = true;
    if (m) openTicket(m[1]);
  }

  function init() {
    api("GET", "/api/me").then(function (res) {
      me = res.data;
      $("whoami").textContent = me.display_name + "（" + me.agent + "）";
      $("supervisor-link").hidden = me.role !== "supervisor";
      return api("GET", "/api/labels");
    }).then(function (res) {
      LABELS = res.data;
      STATUS = res.data.status_values;
      fillFilters();
      return api("GET", "/api/departments");
    }).then(function (res) {
      var sel = $("f-department");
      (res.data || []).forEach(function (d) { var o = el("option", null, d.name); o.value = d.id; sel.appendChild(o); });
      return loadQueue();
    }).then(function () {
      connectLive();
      route();
    });
    $("filters").addEventListener("change", function () { loadQueue(); });
    window.addEventListener("hashchange", route);
    setInterval(function () { loadQueue(); }, 60000); // ages and SLA countdowns move on
    $("logout").addEventListener("click", function () { api("POST", "/logout").then(function () { location.href = "/login"; }, function () { location.href = "/login"; }); });
    $("claim").addEventListener("click", function () {
      api("POST", "/api/tickets/" + encodeURIComponent(current.id) + "/claim").then(function (res) {
        if (res.status !== 200) { toast(res.data.message || "认领失败"); return; }
        if (res.data.delivery && res.data.delivery.ok === false) showBanner(res.data.delivery.message, true);
        openTicket(current.id); refreshQueueSoon();
        toast("已认领，市民已收到接入提示");
      });
    });
    $("reply-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var text = $("reply-text").value.trim();
      if (!text) { toast("请输入回复内容"); return; }
      send(text, false);
    });
    $("send-anyway").addEventListener("click", function () { if (pendingText) send(pendingText, true); });
    $("reply-text").addEventListener("input", function () { $("warnings").hidden = true; });
    $("canned-q").addEventListener("input", function (e) { clearTimeout(loadCanned.t); loadCanned.t = setTimeout(function () { loadCanned(e.target.value.trim()); }, 250); });
    $("canned").addEventListener("change", function (e) {
      var c = cannedItems[Number(e.target.value)];
      if (c) { $("reply-text").value = c.text; $("reply-text").focus(); }
      e.target.value = "";
    });
    $("note-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var text = $("note-text").value.trim();
      if (!text) return;
      api("POST", "/api/tickets/" + encodeURIComponent(current.id) + "/notes", { text: text }).then(function (res) {
        if (res.status === 200) { $("note-text").value = ""; current.notes = res.data.notes; renderNotes(); } else toast(res.data.message || "备注失败");
      });
    });
    $("close-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var resolution = $("resolution").value.trim();
      if (!resolution) { toast("请填写办理结果"); return; }
      $("close").disabled = true;
      api("POST", "/api/tickets/" + encodeURIComponent(current.id) + "/close", { resolution: resolution }).then(function (res) {
        $("close").disabled = false;
        if (res.status !== 200) { toast(res.data.message || "办结失败"); return; }
        $("resolution").value = "";
        toast("工单已办结，已请市民评价");
        openTicket(current.id); refreshQueueSoon();
      });
    });
    $("reveal").addEventListener("click", function () {
      api("GET", "/api/tickets/" + encodeURIComponent(current.id) + "/contact").then(function (res) {
        if (res.status === 200) { $("t-contact").textContent = res.data.contact || "未提供"; $("reveal").hidden = true; }
      });
    });
    $("to-callback").addEventListener("click", function () {
      api("POST", "/api/tickets/" + encodeURIComponent(current.id) + "/callback").then(function (res) {
        if (res.status === 200) { $("banner").hidden = true; toast("已改为电话回访，记入备注"); openTicket(current.id); } else toast(res.data.message || "操作失败");
      });
    });
  }

  init();
})();
