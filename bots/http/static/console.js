/* 检学 培训管理台: signs in with a trainer's key and draws what /v1/console/overview says, with uPlot
   (vendored under /console/vendor, MIT, no CDN); drafts are edited, published and assigned through
   the same API every client uses. */
(function () {
  "use strict";
  const $ = (s) => document.querySelector(s);
  const LETTERS = "ABCDEFGHIJKL";
  const LINES = { criminal: "刑事检察", civil: "民事检察", administrative: "行政检察", public_interest: "公益诉讼检察",
                  general: "综合" };
  const lineName = (line) => LINES[line] || line;
  let key = sessionStorage.getItem("jx-console-key") || "";
  let overview = null;
  let current = null;  // the draft quiz under review

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    });
    children.flat().forEach((c) => node.append(c instanceof Node ? c : document.createTextNode(String(c))));
    return node;
  }

  function say(text) { $("#message").textContent = text; }

  async function api(method, path, body) {
    const response = await fetch(path, {
      method, headers: { Authorization: "Bearer " + key, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const message = (data.error && data.error.message) || response.statusText;
      throw new Error(response.status === 401 ? "密钥无效" : response.status === 403 ? "需要培训管理员密钥" : message);
    }
    return data;
  }

  async function load() {
    const dept = $("#dept").value;
    overview = await api("GET", "/v1/console/overview" + (dept ? "?department=" + encodeURIComponent(dept) : ""));
    const picker = $("#dept");
    if (picker.options.length === 1) {
      overview.departments.forEach((d) => picker.append(el("option", { value: d }, d)));
    }
    $("#dept-pick").hidden = false;
    $("#board").hidden = false;
    drawCompletion(overview.assignments);
    drawScores(overview.weeks);
    drawHeat(overview.heat);
    drawList("#hardest", overview.hardest, (q) => `正确率 ${(q.correct_rate * 100).toFixed(0)}%（${q.attempts} 次）`);
    drawList("#mistakes", overview.mistakes, (q) => `答错 ${q.wrong} 次`);
    drawExperts(overview.experts);
    await loadAnswered();
    await loadDrafts();
    document.body.dataset.ready = "1";
  }

  function chart(target, opts, data) {
    const box = $(target);
    box.textContent = "";
    const width = Math.max(320, box.clientWidth || 800);
    return new uPlot({ width, height: 220, ...opts }, data, box);
  }

  function drawCompletion(items) {
    const rows = $("#assignments tbody");
    rows.textContent = "";
    items.forEach((a) => rows.append(el("tr", {}, el("td", {}, "#" + a.id), el("td", {}, a.title), el("td", {}, a.due_at.slice(0, 10)),
      el("td", {}, `${a.completed}/${a.targeted}`),
      el("td", {}, a.mean_score == null ? "—" : (a.mean_score * 100).toFixed(0) + "%"))));
    if (!items.length) { $("#completion").textContent = "尚无训练任务"; return; }
    const shown = items.slice().reverse();
    const xs = shown.map((_, i) => i + 1);
    const rates = shown.map((a) => (a.targeted ? Math.round((100 * a.completed) / a.targeted) : 0));
    chart("#completion", {
      legend: { show: false },
      scales: { x: { time: false, range: [0.5, shown.length + 0.5] }, y: { range: [0, 100] } },
      axes: [{ splits: () => xs, grid: { show: false },
               values: (u, ticks) => ticks.map((t) => (shown[t - 1] ? "#" + shown[t - 1].id : "")) },
             { values: (u, ticks) => ticks.map((t) => t + "%") }],
      series: [{}, { label: "完成率", fill: "rgba(122,31,31,0.55)", stroke: "#7a1f1f",
                     paths: uPlot.paths.bars({ size: [0.6, 60] }), points: { show: false } }],
    }, [xs, rates]);
  }

  function drawScores(weeks) {
    if (!weeks.length) { $("#scores").textContent = "尚无答题记录"; return; }
    const xs = weeks.map((w) => Date.parse(w.week + "T00:00:00Z") / 1000);
    const week = 7 * 86400;
    const last = weeks.length - 1;
    const partial = weeks[last].partial;  // this week so far: drawn dashed, so its fewer answers read as unfinished
    const score = weeks.map((w) => (w.score == null ? null : Math.round(w.score * 1000) / 10));
    const count = weeks.map((w) => w.attempts);
    const done = (values) => values.map((v, i) => (partial && i === last ? null : v));
    const sofar = (values) => values.map((v, i) => (partial && i >= last - 1 ? v : null));
    const series = [{ label: "周" }, { label: "正确率 %", stroke: "#1f5f7a", width: 2, points: { size: 6 } },
                    { label: "答题数", stroke: "#c9a227", scale: "n", points: { size: 6 } }];
    const data = [xs, done(score), done(count)];
    if (partial) {
      series.push({ label: "本周至今 正确率", stroke: "#1f5f7a", width: 2, dash: [5, 5], points: { size: 6 } },
                  { label: "本周至今 答题数", stroke: "#c9a227", scale: "n", dash: [5, 5], points: { size: 6 } });
      data.push(sofar(score), sofar(count));
    }
    chart("#scores", {
      scales: { x: { auto: false, range: [Math.min(xs[0], xs[last] - 8 * week) - week / 2, xs[last] + week / 2] },
                y: { range: [0, 100] } },
      series,
      axes: [{}, { values: (u, t) => t.map((v) => v + "%") }, { side: 1, scale: "n", grid: { show: false } }],
    }, data);
  }

  function color(m) {  // red (0) .. amber .. green (1)
    if (m == null) return "#f0f0f0";
    const hue = Math.round(120 * Math.max(0, Math.min(1, (m - 0.3) / 0.6)));
    return `hsl(${hue}, 65%, 72%)`;
  }

  function drawHeat(heat) {
    const table = $("#heat");
    table.textContent = "";
    table.append(el("tr", {}, el("th", {}, "知识点"), heat.departments.map((d) => el("th", {}, d))));
    heat.topics.forEach((t, i) => table.append(el("tr", {}, el("th", {}, t.topic),
      heat.departments.map((d, j) => {
        const m = heat.mastery[i][j];
        const cell = el("td", { class: "cell", title: `${heat.attempts[i][j]} 次作答` },
          m == null ? "—" : (m * 100).toFixed(0) + "%");
        cell.style.background = color(m);
        return cell;
      }))));
    if (!heat.topics.length) table.append(el("tr", {}, el("td", {}, "尚无数据")));
  }

  function drawList(target, items, detail) {
    const list = $(target);
    list.textContent = "";
    items.forEach((q) => list.append(el("li", {}, q.stem || q.question_id, " ",
      el("span", { class: "topic" }, q.topic ? `〔${q.topic}〕` : ""), el("span", { class: "rate" }, detail(q)))));
    if (!items.length) list.append(el("li", {}, "尚无数据"));
  }

  function drawExperts(experts) {
    const box = $("#experts");
    if (!experts) { box.textContent = "未启用"; return; }
    box.textContent = "";
    experts.lines.forEach((l) => box.append(el("div", {}, `${lineName(l.line)}：待认领 ${l.open} · 处理中 ${l.claimed} · 已答 ${l.answered}`)));
    box.append(el("div", {}, `近30天评价：赞 ${experts.feedback.up} · 踩 ${experts.feedback.down}`));
  }

  async function loadAnswered() {  // answered by an expert, checked, waiting for a trainer to make them material
    const box = $("#answered");
    box.textContent = "";
    if (!overview.experts) { box.append(el("li", {}, "专家库未启用")); return; }
    const { questions } = await api("GET", "/v1/questions?status=answered");
    questions.forEach((q) => box.append(el("li", { class: "answered", "data-question": q.id },
      el("div", { class: "asked" }, `#${q.id}（${lineName(q.line)}，${q.asker_departments}）${q.text}`),
      el("div", { class: "answer" }, q.answer || ""),
      el("div", { class: "sources" }, (q.citations || []).map((c) => `[${c.n}] ${c.label}`).join("　")),
      el("button", { type: "button", class: "q-publish", onclick: guard(() => publishAnswer(q.id)) },
        "发布为资料"))));
    if (!questions.length) box.append(el("li", {}, "没有待发布的答复"));
  }

  async function publishAnswer(id) {
    const done = await api("POST", `/v1/questions/${id}/publish`, {});
    say(`已发布为 ${done.label}，现在起可检索、可引用`);
    await loadAnswered();
  }

  async function loadDrafts() {
    const { drafts } = await api("GET", "/v1/console/drafts");
    const list = $("#drafts");
    list.textContent = "";
    drafts.forEach((d) => list.append(el("li", {}, el("button", { type: "button", "data-quiz": d.id,
      onclick: () => openDraft(d.id) }, d.title), ` ${d.questions} 题 · ${d.created_by}`)));
    if (!drafts.length) list.append(el("li", {}, "没有待审的草稿"));
  }

  async function openDraft(id) {
    current = await api("GET", "/v1/quizzes/" + encodeURIComponent(id));
    showDraft();
  }

  function showDraft() {
    $("#draft").hidden = false;
    $("#draft-title").textContent = `${current.title}（${current.status === "published" ? "已发布" : "草稿"}）`;
    const box = $("#draft-questions");
    box.textContent = "";
    current.questions.forEach((q, i) => {
      const stem = el("textarea", { class: "q-stem" });
      stem.value = q.stem;
      const options = q.options.map((o) => { const input = el("input", { class: "q-opt" }); input.value = o; return input; });
      const editable = current.status === "draft";
      box.append(el("div", { class: "question", "data-id": q.id }, el("div", {}, `${i + 1}. `), stem,
        options.map((input, j) => el("div", {}, LETTERS[j] + ". ", input)),
        el("div", { class: "key" }, "答案：" + q.answer.map((j) => LETTERS[j]).join("、")),
        editable ? el("button", { type: "button", class: "q-save", onclick: () => save(q.id, stem, options) }, "保存修改") : "",
        editable ? el("button", { type: "button", class: "q-drop", onclick: () => drop(q.id) }, "删除此题") : ""));
    });
    $("#publish").hidden = current.status !== "draft";
    $("#assign-form").hidden = current.status !== "published";
    const depts = $("#assign-dept");
    depts.textContent = "";
    (overview.scope || overview.departments).forEach((d) => depts.append(el("option", { value: d }, d)));
  }

  async function save(id, stem, options) {
    current = await api("PATCH", `/v1/quizzes/${current.id}/questions/${id}`,
      { stem: stem.value, options: options.map((o) => o.value) });
    say("已保存");
    showDraft();
  }

  async function drop(id) {
    current = await api("DELETE", `/v1/quizzes/${current.id}/questions/${id}`);
    say("已删除该题");
    showDraft();
  }

  function guard(fn) {
    return (event) => { if (event) event.preventDefault(); fn().catch((e) => say(e.message)); };
  }

  $("#publish").addEventListener("click", guard(async () => {
    current = await api("POST", `/v1/quizzes/${current.id}/publish`);
    say("已发布，可以布置给学员");
    showDraft();
    await loadDrafts();
  }));

  $("#assign-form").addEventListener("submit", guard(async () => {
    const made = await api("POST", "/v1/assignments", {
      quiz_id: current.id, departments: [$("#assign-dept").value], due: $("#assign-due").value,
      hours: parseFloat($("#assign-hours").value || "0") });
    say(`已布置：任务 ${made.id}，截止 ${made.due_at.slice(0, 10)}`);
    await load();
  }));

  $("#signin").addEventListener("submit", guard(async () => {
    key = $("#key").value.trim();
    sessionStorage.setItem("jx-console-key", key);
    say("");
    await load();
  }));

  $("#dept").addEventListener("change", guard(load));
  if (key) { $("#key").value = key; guard(load)(); }
})();
