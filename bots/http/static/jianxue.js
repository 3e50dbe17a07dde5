/* 检学 jianxue widget: <script src="https://host/widget/jianxue.js" data-key="jx_..."></script>
   A chat box with streamed, cited answers (each citation opens its quoted text) and a quiz mode.
   The key is sent as a Bearer token to the server the script came from (or data-endpoint). */
(function () {
  "use strict";
  var script = document.currentScript;
  var KEY = (script && script.getAttribute("data-key")) || "";
  var BASE = (script && script.getAttribute("data-endpoint")) || (script ? new URL(script.src).origin : "");
  var history = [];

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  var css = ".jx-box{position:fixed;right:16px;bottom:16px;width:360px;max-height:70vh;display:flex;flex-direction:column;" +
    "font:14px/1.6 system-ui,'PingFang SC','Microsoft YaHei',sans-serif;background:#fff;border:1px solid #c8ccd4;" +
    "border-radius:8px;box-shadow:0 4px 16px rgba(0,0,0,.15);z-index:2147483000}" +
    ".jx-head{background:#8b1a1a;color:#fff;padding:8px 12px;border-radius:8px 8px 0 0;display:flex;justify-content:space-between}" +
    ".jx-log{overflow:auto;padding:8px 12px;flex:1}.jx-q{color:#555;margin:8px 0 2px}.jx-a{white-space:pre-wrap}" +
    ".jx-cites{margin:4px 0 8px;padding:0;list-style:none;font-size:13px}.jx-cite button{background:none;border:0;color:#8b1a1a;cursor:pointer;padding:0}" +
    ".jx-quote{display:none;background:#f6f6f6;border-left:3px solid #8b1a1a;padding:4px 8px;margin:2px 0}" +
    ".jx-form{display:flex;border-top:1px solid #eee}.jx-form input{flex:1;border:0;padding:10px;font:inherit}" +
    ".jx-form button,.jx-mode{border:0;background:#8b1a1a;color:#fff;padding:0 12px;cursor:pointer;font:inherit}" +
    ".jx-opt{display:block;width:100%;text-align:left;margin:4px 0;padding:6px;border:1px solid #ccd;background:#fafafa;cursor:pointer;font:inherit}" +
    ".jx-right{border-color:#2e7d32;background:#e8f5e9}.jx-wrong{border-color:#c62828;background:#ffebee}.jx-note{color:#8a6d00;font-size:12px}";
  document.head.appendChild(el("style", {}, css));

  var box = el("div", { "class": "jx-box", "role": "dialog", "aria-label": "检学 jianxue" });
  var head = el("div", { "class": "jx-head" });
  head.appendChild(el("span", {}, "检学 · 检察业务问答"));
  var quizButton = el("button", { "class": "jx-mode", "type": "button", "data-jx": "quiz" }, "练一练");
  head.appendChild(quizButton);
  var log = el("div", { "class": "jx-log", "aria-live": "polite" });
  var form = el("form", { "class": "jx-form" });
  var input = el("input", { "type": "text", "placeholder": "输入问题，例如：正当防卫的限度怎么认定", "aria-label": "问题" });
  form.appendChild(input);
  form.appendChild(el("button", { "type": "submit" }, "提问"));
  box.appendChild(head); box.appendChild(log); box.appendChild(form);
  (document.body || document.documentElement).appendChild(box);

  function headers(json) {
    var h = { "Authorization": "Bearer " + KEY };
    if (json) h["Content-Type"] = "application/json";
    return h;
  }

  function showError(message) { log.appendChild(el("div", { "class": "jx-note" }, "出错：" + message)); }

  function citations(list, into) {
    var ul = el("ul", { "class": "jx-cites" });
    list.forEach(function (c) {
      var li = el("li", { "class": "jx-cite" });
      var b = el("button", { "type": "button" }, "[" + c.n + "] " + c.label);
      var q = el("div", { "class": "jx-quote" }, "“" + c.quote + "”");
      b.addEventListener("click", function () { q.style.display = q.style.display === "block" ? "none" : "block"; });
      li.appendChild(b); li.appendChild(q); ul.appendChild(li);
    });
    into.appendChild(ul);
  }

  async function ask(question) {
    log.appendChild(el("div", { "class": "jx-q" }, "问：" + question));
    var answer = el("div", { "class": "jx-a" });
    log.appendChild(answer);
    var res = await fetch(BASE + "/v1/ask", { method: "POST", headers: Object.assign(headers(true), { "Accept": "text/event-stream" }),
      body: JSON.stringify({ question: question, history: history.slice(-4) }) });
    if (!res.ok) { var e = await res.json().catch(function () { return {}; }); showError((e.error && e.error.message) || res.status); return; }
    var reader = res.body.getReader(), decoder = new TextDecoder(), buffer = "";
    for (;;) {
      var part = await reader.read();
      if (part.done) break;
      buffer += decoder.decode(part.value, { stream: true });
      var blocks = buffer.split("\n\n"); buffer = blocks.pop();
      blocks.forEach(function (block) {
        var name = (block.match(/^event: (.*)$/m) || [])[1], data = (block.match(/^data: (.*)$/m) || [])[1];
        if (!name || data === undefined) return;
        var payload = JSON.parse(data);
        if (name === "delta") {
          answer.textContent += payload.text;
          answer.setAttribute("data-deltas", String(Number(answer.getAttribute("data-deltas") || 0) + 1));
        }
        else if (name === "reset") answer.textContent = "";
        else if (name === "citations") citations(payload, log);
        else if (name === "done") { answer.textContent = payload.text; answer.setAttribute("data-done", "1"); history.push(payload.turn); }
        else if (name === "error") showError(payload.message);
      });
      log.scrollTop = log.scrollHeight;
    }
  }

  async function quiz() {
    var topic = input.value.trim() || (history.length ? history[history.length - 1].query : "");
    var res = await fetch(BASE + "/v1/quizzes", { method: "POST", headers: headers(true),
      body: JSON.stringify(topic ? { topic: topic, n: 1 } : { n: 1 }) });
    var data = await res.json();
    if (!res.ok) { showError((data.error && data.error.message) || res.status); return; }
    var q = data.questions[0], chosen = [], several = q.type === "multi";
    var card = el("div", { "class": "jx-quiz", "data-type": q.type });
    card.appendChild(el("div", { "class": "jx-q" }, "练习" + (several ? "（多选）" : "") + "：" + q.stem));

    async function submit() {
      var r = await fetch(BASE + "/v1/quizzes/" + data.id + "/answers", { method: "POST", headers: headers(true),
        body: JSON.stringify({ question_id: q.id, chosen: chosen }) });
      var g = await r.json();
      if (!r.ok) { showError((g.error && g.error.message) || r.status); return; }
      card.querySelectorAll("button").forEach(function (o) { o.disabled = true; });
      card.querySelectorAll(".jx-opt").forEach(function (o, j) {
        if (g.answer.indexOf(j) >= 0) o.classList.add("jx-right"); else if (chosen.indexOf(j) >= 0) o.classList.add("jx-wrong");
      });
      card.appendChild(el("div", { "class": "jx-result" }, (g.correct ? "回答正确。" : "回答错误。") + g.explanation));
      citations(g.citations, card);
    }

    q.options.forEach(function (option, i) {
      var b = el("button", { "type": "button", "class": "jx-opt", "data-index": String(i), "aria-pressed": "false" },
        "ABCDEF"[i] + ". " + option);
      b.addEventListener("click", function () {
        if (!several) { chosen = [i]; submit().catch(function (e) { showError(e.message); }); return; }
        var at = chosen.indexOf(i);
        if (at >= 0) chosen.splice(at, 1); else chosen.push(i);
        b.setAttribute("aria-pressed", at >= 0 ? "false" : "true");
        b.style.fontWeight = at >= 0 ? "" : "bold";
      });
      card.appendChild(b);
    });
    if (several) {
      var send = el("button", { "type": "button", "class": "jx-mode jx-submit" }, "提交答案");
      send.addEventListener("click", function () {
        if (!chosen.length) return;
        chosen.sort(); submit().catch(function (e) { showError(e.message); });
      });
      card.appendChild(send);
    }
    log.appendChild(card);
    log.scrollTop = log.scrollHeight;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var question = input.value.trim();
    if (!question) return;
    input.value = "";
    ask(question).catch(function (e) { showError(e.message); });
  });
  quizButton.addEventListener("click", function () { quiz().catch(function (e) { showError(e.message); }); });
})();
