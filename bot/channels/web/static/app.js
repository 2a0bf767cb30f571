// civicbot web chat: renders the server's replies (always as text, never HTML), sends what is typed or
// pressed over one WebSocket, and keeps unacknowledged messages to send again after a reconnect.
"use strict";
(function () {
  var S = JSON.parse(document.body.dataset.strings || "{}");
  var box = document.getElementById("messages");
  var chat = document.getElementById("chat");
  var text = document.getElementById("text");
  var typing = document.getElementById("typing");
  var status = document.getElementById("status");
  var photo = document.getElementById("photo");
  var LOG = "civicbot.log", SIZE = "civicbot.size", QUEUE = "civicbot.queue", SEEN = "civicbot.seen";
  var URL_RE = /\bhttps?:\/\/[^\s<>"']+/g;
  var ws = null, attempts = 0, frame = 0, leaving = false;
  var queue = load(QUEUE, []);
  var transcript = load(LOG, []);
  var seen = load(SEEN, []);
  var start = null;

  function load(key, fallback) {
    try { return JSON.parse(sessionStorage.getItem(key)) || fallback; } catch (e) { return fallback; }
  }
  function save(key, value) {
    try { sessionStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* private mode: memory only */ }
  }
  function newId() {
    var bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // -- rendering: text nodes and http(s) links only --------------------------------------------------
  function addText(parent, value) {
    var last = 0;
    String(value).replace(URL_RE, function (url, at) {
      parent.appendChild(document.createTextNode(value.slice(last, at)));
      var a = document.createElement("a");
      a.href = url; a.textContent = url; a.target = "_blank"; a.rel = "noopener noreferrer";
      parent.appendChild(a);
      last = at + url.length;
      return url;
    });
    parent.appendChild(document.createTextNode(value.slice(last)));
  }
  function safeUrl(url) { return typeof url === "string" && /^(https?:\/\/|\/f\/)/.test(url); }

  function bot(m, group, restore) {
    var div = document.createElement("div");
    div.className = "msg bot";
    div.dataset.frame = group;
    addText(div, m.text || "");
    if (m.image && safeUrl(m.image.url)) {
      var img = document.createElement("img");
      img.src = m.image.url; img.alt = m.image.name || "";
      div.appendChild(img);
    }
    if (m.document && safeUrl(m.document.url)) {
      var doc = document.createElement("a");
      doc.href = m.document.url; doc.textContent = "\uD83D\uDCCE " + (m.document.name || ""); doc.download = m.document.name || "";
      div.appendChild(document.createElement("br"));
      div.appendChild(doc);
    }
    if (m.buttons && m.buttons.length) {
      var keys = document.createElement("div");
      keys.className = "keys";
      m.buttons.forEach(function (row) {
        var r = document.createElement("div");
        r.className = "row";
        row.forEach(function (b) {
          var el;
          if (b.url) {
            if (!/^https?:\/\//.test(b.url)) return;
            el = document.createElement("a");
            el.className = "link"; el.href = b.url; el.target = "_blank"; el.rel = "noopener noreferrer";
          } else {
            el = document.createElement("button");
            el.type = "button";
            el.dataset.data = b.data || "";
            el.disabled = !!restore || !b.data;
          }
          el.textContent = b.label;
          r.appendChild(el);
        });
        keys.appendChild(r);
      });
      div.appendChild(keys);
    }
    box.appendChild(div);
    return div;
  }
  function user(value, id) {
    var div = document.createElement("div");
    div.className = "msg user";
    if (id) { div.dataset.id = id; div.classList.add("waiting"); }
    addText(div, value);
    box.appendChild(div);
    return div;
  }
  function note(value) {
    var div = document.createElement("div");
    div.className = "msg note";
    div.textContent = value;
    box.appendChild(div);
    scroll();
  }
  function scroll() { chat.scrollTop = chat.scrollHeight; }
  function remember(entry) {
    transcript.push(entry);
    if (transcript.length > 200) transcript.splice(0, transcript.length - 200);
    save(LOG, transcript);
  }
  function disableKeys(exceptFrame) {
    box.querySelectorAll(".msg.bot button").forEach(function (b) {
      if (b.closest(".msg").dataset.frame !== String(exceptFrame)) b.disabled = true;
    });
  }

  // -- the socket ------------------------------------------------------------------------------------
  function connect() {
    ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    ws.onopen = function () {
      attempts = 0;
      status.textContent = "";
      var hello = { type: "hello", fresh: transcript.length === 0, id: start ? start.id : newId() };
      if (start) hello.start = start.payload;
      ws.send(JSON.stringify(hello));
      queue.forEach(function (m) { ws.send(JSON.stringify(m)); });
    };
    ws.onmessage = function (event) { receive(JSON.parse(event.data)); };
    ws.onclose = function (event) {
      ws = null;
      if (leaving) return;
      if (event.code === 4401) { fresh(); return; }
      status.textContent = S.reconnecting || "";
      var delay = Math.min(15000, 400 * Math.pow(2, attempts++));
      setTimeout(connect, delay / 2 + Math.random() * delay / 2);
    };
  }
  function fresh() {
    if (leaving) return;
    // the server does not know this browser (cookie gone or refused): reload once to get a session,
    // back to the survey or binding link if one was not used yet
    var last = Number(load("civicbot.reloaded", 0));
    if (Date.now() - last < 15000) { note(S.cookies_needed || ""); return; }
    sessionStorage.clear();
    save("civicbot.reloaded", Date.now());
    location.replace(start ? start.path : "/");
  }
  function settle(id) {
    var before = queue.length;
    queue = queue.filter(function (m) { return m.id !== id; });
    save(QUEUE, queue);
    var div = box.querySelector('.msg.user[data-id="' + id + '"]');
    if (div) div.classList.remove("waiting");
    return queue.length < before;
  }
  function receive(f) {
    // an ack comes only for a turn still running after a moment (the reply settles a message too): "typing…"
    if ((f.type === "ack" && settle(f.id)) || f.type === "typing") {
      typing.textContent = S.typing || "…"; typing.hidden = false;
    }
    if (f.type === "ack" || f.type === "typing") return;
    if (f.type === "session") { fresh(); return; }
    if (f.type === "limit") {
      status.textContent = f.text;
      setTimeout(function () {
        var m = queue.filter(function (q) { return q.id === f.id; })[0];
        if (m && ws && ws.readyState === 1) ws.send(JSON.stringify(m));
      }, (f.retry || 2) * 1000);
      return;
    }
    if (f.type === "refused" || f.type === "error") {
      if (f.id) settle(f.id);
      note(f.text); remember({ note: f.text });
      return;
    }
    if (f.type === "reply" || f.type === "notice") {
      if (f.n) {
        ws.send(JSON.stringify({ type: "seen", n: f.n }));
        if (seen.indexOf(f.n) >= 0) return;
        seen.push(f.n);
        if (seen.length > 100) seen.shift();
        save(SEEN, seen);
      }
      if (f.type === "reply") {
        typing.hidden = true;
        if (f.id) settle(f.id);
        if (start && f.id === start.id) start = null;
      }
      if (f.lang) document.documentElement.lang = f.lang;
      if (!f.messages.length) return;
      frame += 1;
      if (f.type === "reply") disableKeys(frame);
      f.messages.forEach(function (m) { bot(m, frame); remember({ bot: m }); });
      status.textContent = "";
      scroll();
    }
  }
  function post(message) {
    queue.push(message);
    save(QUEUE, queue);
    if (ws && ws.readyState === 1) ws.send(JSON.stringify(message));
    else status.textContent = S.offline_queued || "";
  }

  // -- what people do --------------------------------------------------------------------------------
  function sendText() {
    var value = text.value;
    if (!value.trim()) return;
    var id = newId();
    user(value, id); remember({ user: value });
    text.value = ""; grow(); scroll();
    post({ type: "text", id: id, text: value });
  }
  function grow() { text.style.height = "auto"; text.style.height = Math.min(text.scrollHeight + 2, 160) + "px"; }

  document.getElementById("composer").addEventListener("submit", function (e) { e.preventDefault(); sendText(); });
  text.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendText(); }
  });
  text.addEventListener("input", grow);
  box.addEventListener("click", function (e) {
    var b = e.target.closest("button");
    if (!b || b.disabled || !b.dataset.data) return;
    b.closest(".keys").querySelectorAll("button").forEach(function (x) { x.disabled = true; });
    var id = newId();
    user(b.textContent, id); remember({ user: b.textContent });
    scroll();
    post({ type: "button", id: id, data: b.dataset.data });
  });
  photo.addEventListener("change", function () {
    var file = photo.files && photo.files[0];
    photo.value = "";
    if (!file) return;
    var id = newId();
    var mine = user("\uD83D\uDCF7 " + file.name, id);
    status.textContent = S.uploading || "";
    fetch("/upload", { method: "POST", body: file, credentials: "same-origin",
                       headers: { "Content-Type": file.type || "application/octet-stream" } })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
      .then(function (r) {
        status.textContent = "";
        if (!r.ok) { mine.classList.remove("waiting"); mine.classList.add("failed"); note(r.body.error || S.not_sent); return; }
        remember({ user: "\uD83D\uDCF7 " + file.name });
        post({ type: "photo", id: id, ref: r.body.ref });
      })
      .catch(function () { status.textContent = ""; mine.classList.add("failed"); note(S.not_sent || ""); });
  });
  document.getElementById("forget").addEventListener("click", function () {
    if (!confirm(S.forget_confirm)) return;
    leaving = true;
    fetch("/forget", { method: "POST", credentials: "same-origin" }).then(function () {
      sessionStorage.clear();
      save("civicbot.forgotten", 1);
      location.replace("/");
    });
  });
  function setSize(n) {
    document.documentElement.dataset.size = n;
    document.querySelectorAll(".size").forEach(function (b) { b.setAttribute("aria-pressed", String(b.dataset.size === n)); });
    try { localStorage.setItem(SIZE, n); } catch (e) { /* not kept */ }
  }
  document.querySelectorAll(".size").forEach(function (b) {
    b.addEventListener("click", function () { setSize(b.dataset.size); });
  });

  // -- start -----------------------------------------------------------------------------------------
  var stored = null;
  try { stored = localStorage.getItem(SIZE); } catch (e) { stored = null; }
  setSize(stored === "2" || stored === "3" ? stored : "1");
  transcript.forEach(function (entry) {
    if (entry.bot) bot(entry.bot, 0, true);
    else if (entry.user) user(entry.user);
    else if (entry.note) note(entry.note);
  });
  if (load("civicbot.forgotten", 0)) { sessionStorage.removeItem("civicbot.forgotten"); note(S.forgotten || ""); }
  var lastBot = box.querySelectorAll(".msg.bot");
  if (lastBot.length) lastBot[lastBot.length - 1].querySelectorAll("button").forEach(function (b) { b.disabled = !b.dataset.data; });
  queue.forEach(function (m) { if (m.type === "text") user(m.text, m.id); });
  var link = /^\/(s|b)\/([A-Za-z0-9_-]{1,64})\/?$/.exec(location.pathname);
  if (link) {
    start = { payload: link[2], id: newId(), path: location.pathname };
    history.replaceState(null, "", "/");
  }
  scroll();
  connect();
})();
