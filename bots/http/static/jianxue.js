/* 检学 jianxue widget: <script src="https://host/widget/jianxue.js" data-key="jx_..."></script>
   A chat box with streamed, cited answers (each citation opens its quoted text), a quiz mode, and the
   learner's assignments (训练任务): quizzes answered in place, mock exams against the server's clock.
   The key is sent as a Bearer token to the server the script came from (or data-endpoint). */
(function () {
  "use strict";
  var script = document.currentScript;
  var KEY = (script && script.getAttribute("data-key")) || "";
  var BASE = (script && script.getAttribute("data-endpoint")) || (script ? new URL(script.src).origin : "");
  var POLL_S = Number((script && script.getAttribute("data-poll-s")) || 30);  // how often an escalated question is looked at
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
    ".jx-acts button{border:1px solid #c8ccd4;background:#fff;border-radius:4px;margin:0 6px 6px 0;cursor:pointer;font:inherit;font-size:12px}" +
    ".jx-expert{background:#fffbe6;border-left:3px solid #b8860b;padding:4px 8px;margin:4px 0}" +
    ".jx-task{margin:4px 0;font-size:13px}.jx-start,.jx-handin{margin-left:6px;padding:2px 8px}.jx-report{white-space:pre-wrap;font-weight:600}" +
    ".jx-right{border-color:#2e7d32;background:#e8f5e9}.jx-wrong{border-color:#c62828;background:#ffebee}.jx-note{color:#8a6d00;font-size:12px}";
  document.head.appendChild(el("style", {}, css));

  var box = el("div", { "class": "jx-box", "role": "dialog", "aria-label": "检学 jianxue" });
  var head = el("div", { "class": "jx-head" });
  head.appendChild(el("span", {}, "检学 · 检察业务问答"));
  var quizButton = el("button", { "class": "jx-mode", "type": "button", "data-jx": "quiz" }, "练一练");
  head.appendChild(quizButton);
  var tasksButton = el("button", { "class": "jx-mode", "type": "button", "data-jx": "tasks" }, "任务");
  head.appendChild(tasksButton);
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
      var q = el("div", { "class": "jx-quote" }, "“" + (c.passage || c.quote) + "”");
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
        else if (name === "done") {
          answer.textContent = payload.text; answer.setAttribute("data-done", "1"); history.push(payload.turn);
          actions(payload, log);
        }
        else if (name === "error") showError(payload.message);
      });
      log.scrollTop = log.scrollHeight;
    }
  }

  async function call(method, path, body) {
    var res = await fetch(BASE + path, { method: method, headers: headers(body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body) });
    var data = await res.json().catch(function () { return {}; });
    if (!res.ok) throw new Error((data.error && data.error.message) || String(res.status));
    return data;
  }

  function expertAnswer(view, into) {
    var done = into.querySelector(".jx-expert-answer");
    if (done || !view.answer) return !!done;
    var block = el("div", { "class": "jx-expert-answer" }, "专家解答：" + view.answer);
    into.appendChild(block);
    citations(view.citations || [], into);
    return true;
  }

  async function escalate(answer, reason, status, comment) {
    var view = await call("POST", "/v1/questions", { question: answer.question, reason: reason, comment: comment,
      history: history.slice(-5).map(function (t) { return t.question; }) });
    status.setAttribute("data-question", String(view.id));
    status.textContent = view.linked_to ? "相同的问题已提交过（#" + view.linked_to + "），解答后显示在这里。"
      : "已提交给专家（问题 #" + view.id + "），解答后显示在这里。";
    if (expertAnswer(view, status)) return;
    var timer = setInterval(function () {
      call("GET", "/v1/questions/" + view.id).then(function (now) {
        if (expertAnswer(now, status)) clearInterval(timer);
      }).catch(function () { clearInterval(timer); });
    }, POLL_S * 1000);
  }

  function actions(answer, into) {
    var acts = el("div", { "class": "jx-acts" });
    var status = el("div", { "class": "jx-expert" });
    status.style.display = "none";
    function run(handler, comment) {
      acts.querySelectorAll("button, input").forEach(function (o) { o.disabled = true; });
      status.style.display = "block";
      handler(comment || null).catch(function (e) { status.textContent = "出错：" + e.message; });
    }
    function button(label, name, handler, asks) {  // asks: an optional comment is offered first
      var b = el("button", { "type": "button", "data-jx": name }, label);
      b.addEventListener("click", function () {
        if (!asks) { run(handler); return; }
        acts.querySelectorAll("button").forEach(function (o) { o.disabled = true; });
        var box = el("div", { "class": "jx-comment-box" });
        var text = el("input", { "type": "text", "class": "jx-comment", "maxlength": "500",
          "placeholder": "补充说明（可不填）", "aria-label": "补充说明" });
        var send = el("button", { "type": "button", "class": "jx-send" }, "提交");
        send.addEventListener("click", function () { box.remove(); run(handler, text.value.trim()); });
        box.appendChild(text); box.appendChild(send); acts.appendChild(box);
        text.focus();
      });
      acts.appendChild(b);
    }
    if (answer.refused) {
      button("请专家解答", "expert", function (c) { return escalate(answer, "declined", status, c); }, true);
    } else {
      var vote = function (value) {
        return function (comment) {
          return call("POST", "/v1/feedback", { vote: value, comment: comment, question: answer.question,
            answer: answer.text, citations: answer.citations, mode: answer.mode }).then(function () {
            status.textContent = value > 0 ? "谢谢反馈。" : "谢谢反馈，我们会改进。";
            status.setAttribute("data-voted", String(value));
          });
        };
      };
      button("赞", "up", vote(1), false);
      button("踩", "down", vote(-1), true);
      button("不满意，请专家解答", "unsatisfied", function (c) { return escalate(answer, "unsatisfied", status, c); }, true);
    }
    into.appendChild(acts);
    into.appendChild(status);
  }

  /* One question as a card; ``answer(chosen)`` sends it and returns the server's answer: a grade
     (shown with the key and its sources) or, in a mock exam, only whether it was counted. */
  function questionCard(q, label, answer) {
    var chosen = [], several = q.type === "multi";
    var card = el("div", { "class": "jx-quiz", "data-type": q.type, "data-id": q.id });
    card.appendChild(el("div", { "class": "jx-q" }, label + (several ? "（多选）" : "") + "：" + q.stem));

    async function submit() {
      var g = await answer(chosen.slice().sort());
      card.querySelectorAll("button").forEach(function (o) { o.disabled = true; });
      if (g.answer) {
        card.querySelectorAll(".jx-opt").forEach(function (o, j) {
          if (g.answer.indexOf(j) >= 0) o.classList.add("jx-right"); else if (chosen.indexOf(j) >= 0) o.classList.add("jx-wrong");
        });
        card.appendChild(el("div", { "class": "jx-result" }, (g.correct ? "回答正确。" : "回答错误。") + g.explanation));
        citations(g.citations, card);
      } else {
        card.appendChild(el("div", { "class": "jx-result" }, g.counted ? "已作答。" : "时间已到，此答案不计分。"));
      }
    }

    q.options.forEach(function (option, i) {
      var b = el("button", { "type": "button", "class": "jx-opt", "data-index": String(i), "aria-pressed": "false" },
        "ABCDEFGHIJKL"[i] + ". " + option);
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
        submit().catch(function (e) { showError(e.message); });
      });
      card.appendChild(send);
    }
    log.appendChild(card);
    log.scrollTop = log.scrollHeight;
    return card;
  }

  async function quiz() {
    var topic = input.value.trim() || (history.length ? history[history.length - 1].query : "");
    var data = await call("POST", "/v1/quizzes", topic ? { topic: topic, n: 1 } : { n: 1 });
    var q = data.questions[0];
    questionCard(q, "练习", function (chosen) {
      return call("POST", "/v1/quizzes/" + data.id + "/answers", { question_id: q.id, chosen: chosen });
    });
  }

  var STATE = { open: "进行中", completed: "已完成", overdue: "已逾期" };

  async function tasks() {
    var data = await call("GET", "/v1/assignments/me");
    var list = el("div", { "class": "jx-tasks" });
    list.appendChild(el("div", { "class": "jx-q" }, "训练任务"));
    if (!data.assignments.length) list.appendChild(el("div", { "class": "jx-note" }, "目前没有训练任务。"));
    data.assignments.forEach(function (a) {
      var row = el("div", { "class": "jx-task", "data-id": String(a.id), "data-state": a.state },
        a.title + " · 截止 " + a.due_at.slice(0, 10) + " · " + STATE[a.state] +
        (a.score == null ? "" : "（" + Math.round(a.score * 100) + "%）"));
      if (a.state === "open") {
        var go = el("button", { "type": "button", "class": "jx-mode jx-start" }, a.kind === "exam" ? "开始考试" : "开始");
        go.addEventListener("click", function () {
          go.disabled = true;
          (a.kind === "exam" ? exam(a) : assignment(a)).catch(function (e) { showError(e.message); });
        });
        row.appendChild(go);
      }
      list.appendChild(row);
    });
    log.appendChild(list);
    log.scrollTop = log.scrollHeight;
  }

  async function assignment(a) {
    var data = await call("GET", "/v1/quizzes/" + a.ref);
    data.questions.forEach(function (q, i) {
      questionCard(q, a.title + " 第" + (i + 1) + "/" + data.questions.length + "题", function (chosen) {
        return call("POST", "/v1/quizzes/" + data.id + "/answers", { question_id: q.id, chosen: chosen });
      });
    });
  }

  /* A mock exam: the server keeps the clock (the countdown here only shows it); answers are
     kept without feedback until 交卷, then the report per topic. */
  async function exam(a) {
    var paper = await call("POST", "/v1/exams/" + a.ref + "/start");
    var clock = el("div", { "class": "jx-clock jx-note" }), left = paper.seconds_left;
    function tick() { clock.textContent = "剩余时间 " + Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0"); }
    tick();
    var timer = setInterval(function () { left = Math.max(0, left - 1); tick(); }, 1000);
    log.appendChild(clock);
    paper.questions.forEach(function (q, i) {
      questionCard(q, paper.title + " 第" + (i + 1) + "/" + paper.questions.length + "题", function (chosen) {
        return call("POST", "/v1/exams/" + a.ref + "/answers", { question_id: q.id, chosen: chosen });
      });
    });
    var hand = el("button", { "type": "button", "class": "jx-mode jx-handin" }, "交卷");
    hand.addEventListener("click", function () {
      hand.disabled = true;
      call("POST", "/v1/exams/" + a.ref + "/submit").then(function (r) {
        clearInterval(timer);
        var report = el("div", { "class": "jx-report" }, "成绩：" + r.correct + "/" + r.questions + "（" +
          Math.round(r.score * 100) + "%）" + r.topics.map(function (t) { return "\n" + t.topic + "：" + t.correct + "/" + t.questions; }).join(""));
        log.appendChild(report);
        log.scrollTop = log.scrollHeight;
      }).catch(function (e) { showError(e.message); });
    });
    log.appendChild(hand);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var question = input.value.trim();
    if (!question) return;
    input.value = "";
    ask(question).catch(function (e) { showError(e.message); });
  });
  quizButton.addEventListener("click", function () { quiz().catch(function (e) { showError(e.message); }); });
  tasksButton.addEventListener("click", function () { tasks().catch(function (e) { showError(e.message); }); });
})();
