/* app.js — draws the streamfit status JSON (schema: host/http/README.md):
   polls api/status once a second, or draws window.STREAMFIT_STATUS once when
   the page was saved with its data. A replay (streamfit dashboard) says so
   and what it read. Charts: Chart.js (Debian's
   libjs-chart.js, compiled into the server). */
'use strict';

const POLL_MS = 1000;
const charts = {};
let metricChoice = null;

/* ---- formatting ---- */

function fmt(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (digits === undefined) return Math.round(v).toLocaleString('en-US');
  return Number(v).toFixed(digits);
}

function setValue(id, v, digits) {
  const el = document.getElementById(id);
  el.textContent = fmt(v, digits);
  el.dataset.value = (v === null || v === undefined) ? '' : String(v);
}

function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }

function row(table, cells, header) {
  const tr = document.createElement('tr');
  for (const c of cells) {
    const td = document.createElement(header ? 'th' : 'td');
    td.textContent = c;
    tr.appendChild(td);
  }
  table.appendChild(tr);
}

function timeOf(t) { return t ? new Date(t * 1000).toLocaleTimeString('en-GB') : '–'; }

/* ---- charts ---- */

const COLORS = ['#2962a8', '#c0392b', '#2e8540', '#c98a00', '#7b3fa0', '#00838f', '#6d4c41', '#546e7a'];

function chart(id, type, options) {
  if (charts[id]) return charts[id];
  charts[id] = new Chart(document.getElementById(id), {
    type: type,
    data: { labels: [], datasets: [] },
    options: Object.assign({ animation: false, responsive: true, maintainAspectRatio: true,
                             aspectRatio: 2, parsing: true, spanGaps: true,
                             plugins: { legend: { labels: { boxWidth: 12 } } } }, options),
  });
  return charts[id];
}

/* The canvas says how many values it holds (data-points), for tests and
   for anyone checking that a chart has data. */
function update(c) {
  c.update('none');
  c.canvas.dataset.points = String(c.data.datasets.reduce(
    (n, d) => n + d.data.filter((v) => v !== null && (v.y === undefined || v.y !== null)).length, 0));
}

function setSeries(c, series) {
  c.data.datasets = series.map((s, i) => Object.assign({
    borderColor: COLORS[i % COLORS.length], backgroundColor: COLORS[i % COLORS.length],
    pointRadius: 0, borderWidth: 1.5, showLine: true }, s));
  update(c);
}

const timeAxis = (t0) => ({ type: 'linear', title: { display: true, text: 'seconds' },
                            ticks: { callback: (v) => Math.round(v) } });

function xy(hist, t0, key) {
  return hist.map((p) => ({ x: p.time - t0, y: key(p) }));
}

/* ---- panels ---- */

function drawHeader(s) {
  const st = document.getElementById('state');
  st.textContent = s.run.state;
  st.className = 'state ' + s.run.state;
  document.getElementById('reason').textContent = s.run.reason || '';
  document.getElementById('updated').textContent = 'updated ' + timeOf(s.run.updated);
}

function headlineName(s) { return s.n_classes ? 'accuracy' : 'rmse'; }

function drawTiles(s) {
  setValue('v-rows-total', s.counters.rows_total);
  setValue('v-rps', s.throughput.run_rps);
  setValue('v-batches', s.counters.batches);
  setValue('v-lag', s.lag_total);
  setValue('v-e2e-p50', s.latency.end_to_end_ms.p50, 2);
  setValue('v-e2e-p99', s.latency.end_to_end_ms.p99, 2);
  setValue('v-batch-p50', s.latency.batch_ms.p50, 2);
  setValue('v-batch-p99', s.latency.batch_ms.p99, 2);
  setValue('v-bad', s.bad_records.count);
  const h = headlineName(s);
  document.getElementById('l-headline').textContent = 'window ' + h;
  setValue('v-window-headline', s.quality.window ? s.quality.window[h] : null, 4);
  const mv = document.getElementById('v-model-version');
  mv.textContent = s.model ? `${fmt(s.model.version.batches)} / ${fmt(s.model.version.rows_seen)}`
    : (s.model_version || '–'); /* a replay knows the version's name only */
  mv.title = s.model ? 'batches learned / records seen' : 'the last metrics line\'s model_version';
  const w = s.warmup;
  const frac = w.done ? 1 : (w.target_rows ? w.rows / w.target_rows : 0);
  document.getElementById('warmup-bar').style.width = (100 * Math.min(1, frac)) + '%';
  document.getElementById('v-warmup').textContent = w.done ? 'done: exact fit on the first rows, then test-then-train'
    : `${fmt(w.rows)} of ${fmt(w.target_rows)} rows`;
}

function drawThroughput(s, t0) {
  const c = chart('c-throughput', 'scatter', { scales: { x: timeAxis(t0),
    y: { title: { display: true, text: 'records/s' }, beginAtZero: true },
    y1: { position: 'right', title: { display: true, text: 'lag (records)' }, beginAtZero: true,
          grid: { drawOnChartArea: false } } } });
  setSeries(c, [
    { label: 'records/s (run)', data: xy(s.history, t0, (p) => p.throughput_rps) },
    { label: 'total lag', data: xy(s.history, t0, (p) => p.lag), yAxisID: 'y1' },
  ]);
}

function drawPartitions(s) {
  const c = chart('c-partitions', 'bar', { scales: { y: { beginAtZero: true,
    title: { display: true, text: 'records behind' } } }, plugins: { legend: { display: false } } });
  c.data.labels = s.partitions.map((p) => `${p.topic || ''}[${p.partition}]`);
  c.data.datasets = [{ label: 'lag', data: s.partitions.map((p) => p.lag), backgroundColor: COLORS[0] }];
  update(c);
}

function drawLatency(s, t0) {
  const c = chart('c-latency', 'scatter', { scales: { x: timeAxis(t0),
    y: { type: 'logarithmic', title: { display: true, text: 'ms' } } } });
  setSeries(c, [
    { label: 'end-to-end p50', data: xy(s.history, t0, (p) => p.latency_p50_ms) },
    { label: 'end-to-end p99', data: xy(s.history, t0, (p) => p.latency_p99_ms) },
    { label: 'batch', data: xy(s.history, t0, (p) => p.batch_ms) },
  ]);
}

function drawLearning(s) {
  const names = s.n_classes ? ['accuracy', 'log_loss', 'auc', 'f1'] : ['rmse', 'mae', 'r2'];
  const sel = document.getElementById('metric-select');
  if (sel.options.length !== names.length) {
    clear(sel);
    for (const n of names) sel.add(new Option(n, n));
    sel.onchange = () => { metricChoice = sel.value; if (window.lastStatus) draw(window.lastStatus); };
  }
  const m = names.includes(metricChoice) ? metricChoice : names[0];
  sel.value = m;
  const c = chart('c-learning', 'scatter', { scales: {
    x: { type: 'linear', title: { display: true, text: 'records seen' } },
    y: { title: { display: true, text: m } } } });
  c.options.scales.y.title.text = m;
  const pts = (scope) => s.history.map((p) => ({ x: p.rows_total, y: p[scope] ? p[scope][m] : null }));
  setSeries(c, [
    { label: 'batch', data: pts('batch'), borderWidth: 1 },
    { label: 'window', data: pts('window') },
    { label: 'cumulative', data: pts('cumulative') },
  ]);
}

function drawFtrl(s, t0) {
  const c = chart('c-ftrl', 'scatter', { scales: { x: timeAxis(t0),
    y: { title: { display: true, text: 'log-loss' } } } });
  const refits = s.history.filter((p) => p.online_log_loss !== null && p.online_log_loss !== undefined);
  setSeries(c, [
    { label: 'online (FTRL), sliding window', data: xy(s.history, t0, (p) => p.window ? p.window.log_loss : null) },
    { label: 'online at refit, refit window', data: xy(refits, t0, (p) => p.online_log_loss), pointRadius: 4, showLine: false },
    { label: 'exact fit, same window', data: xy(refits, t0, (p) => p.exact_log_loss), pointRadius: 6, pointStyle: 'triangle', showLine: false },
  ]);
  document.getElementById('ftrl-note').textContent = !s.n_classes
    ? 'least squares: the online model is the exact fit (sufficient statistics)'
    : (refits.length ? `${refits.length} refits shown` : 'no exact refit yet (streamfit stream --refit-every N)');
}

function drawRegression(s) {
  const r = s.window.regression;
  document.getElementById('h-scatter').textContent = 'Predicted vs actual (last records)';
  document.getElementById('h-hist').textContent = 'Residuals (actual − predicted), window';
  document.getElementById('t-confusion').style.display = 'none';
  const sc = chart('c-scatter', 'scatter', { scales: {
    x: { title: { display: true, text: 'actual' } }, y: { title: { display: true, text: 'predicted' } } } });
  setSeries(sc, [{ label: 'records', showLine: false, pointRadius: 2,
                   data: r.actual.map((a, i) => ({ x: a, y: r.predicted[i] })) }]);
  const h = r.residual_histogram, n = h.counts.length;
  const hc = chart('c-hist', 'bar', { plugins: { legend: { display: false } } });
  hc.data.labels = h.counts.map((_, i) => fmt(h.lo + (i + 0.5) * (h.hi - h.lo) / n, 3));
  hc.data.datasets = [{ label: 'records', data: h.counts, backgroundColor: COLORS[0] }];
  update(hc);
}

function drawClassification(s) {
  const k = s.window.classification;
  document.getElementById('h-scatter').textContent = 'ROC curve, window';
  document.getElementById('h-hist').textContent = 'Confusion matrix, window (rows: true, columns: predicted)';
  document.getElementById('c-hist').style.display = 'none';
  const roc = chart('c-scatter', 'scatter', { scales: {
    x: { min: 0, max: 1, title: { display: true, text: 'false positive rate' } },
    y: { min: 0, max: 1, title: { display: true, text: 'true positive rate' } } } });
  setSeries(roc, [
    { label: 'ROC', data: k.roc.fpr.map((f, i) => ({ x: f, y: k.roc.tpr[i] })) },
    { label: 'chance', data: [{ x: 0, y: 0 }, { x: 1, y: 1 }], borderDash: [4, 4] },
  ]);
  const t = document.getElementById('t-confusion');
  t.style.display = '';
  clear(t);
  row(t, [''].concat(k.classes.map(String)), true);
  k.confusion.forEach((r, i) => row(t, [String(k.classes[i])].concat(r.map((v) => fmt(v)))));
}

function drawModel(s) {
  const m = s.model, t = document.getElementById('t-model');
  const head = t.tHead, body = t.tBodies[0];
  clear(head); clear(body);
  if (!m) {
    document.getElementById('model-head').textContent = s.replay
      ? 'a replay shows no model: metrics lines do not carry it (the --model-out file does)'
      : 'no model yet (warming up)';
    return;
  }
  const outs = m.intercept.length;
  const cols = outs > 1 && m.classes ? m.classes.map((c) => 'class ' + c) : ['coefficient'];
  document.getElementById('model-head').textContent =
    `${m.kind}, ${m.n_features} features; version: ${fmt(m.version.batches)} batches, ${fmt(m.version.rows_seen)} records seen` +
    (m.classes ? `; classes ${m.classes.join(', ')}` : '') +
    (m.coefficients_shown < m.n_features ? `; the ${m.coefficients_shown} largest shown` : '');
  row(head, ['feature'].concat(cols), true);
  row(body, ['(intercept)'].concat(m.intercept.map((v) => fmt(v, 5))));
  for (const c of m.coefficients) row(body, [c.feature].concat(c.values.map((v) => fmt(v, 5))));
}

function drawTables(s) {
  const ev = document.getElementById('t-events').tBodies[0];
  clear(ev);
  for (const e of s.events.slice().reverse()) row(ev, [timeOf(e.time), e.kind, e.text]);
  if (s.io.checkpoint.last_time) row(ev, [timeOf(s.io.checkpoint.last_time), 'checkpoint',
                                           `last checkpoint after batch ${s.io.checkpoint.last_batch}`]);
  const bad = document.getElementById('t-bad').tBodies[0];
  clear(bad);
  row(bad, ['total', fmt(s.bad_records.count), '']);
  for (const b of s.bad_records.last.slice().reverse()) row(bad, [timeOf(b.time), b.where, b.reason]);
  const io = document.getElementById('t-io').tBodies[0];
  clear(io);
  const src = s.io.source;
  row(io, ['source', src.uri || '–', src.reachable === null ? '' : (src.reachable ? 'reachable' : 'UNREACHABLE')]);
  for (const [k, v] of Object.entries(s.io.sinks)) row(io, [k, v || '–', '']);
  const cp = s.io.checkpoint;
  row(io, ['checkpoint', cp.dir || '–', cp.dir ? `every ${cp.every} batches` : '']);
  const b = document.getElementById('t-build').tBodies[0];
  clear(b);
  row(b, ['streamfit', s.build.version || '–']);
  row(b, ['backend', `${s.build.backend || '–'}: ${s.build.device || ''}`]);
  if (s.replay) row(b, ['model', s.n_classes ? 'classification' : 'regression']); /* all a metrics line says */
  else row(b, ['model', `${s.model_kind}${s.n_classes ? ', ' + s.n_classes + ' classes' : ''}`]);
  row(b, ['started', timeOf(s.run.started)]);
  document.getElementById('command-line').textContent = s.command_line || '';
}

/* A replay (streamfit dashboard --metrics): what was read, what is shown. */
function drawReplay(s) {
  const note = document.getElementById('replay-note'), r = s.replay;
  if (!r) return;
  let text = `Replay of ${r.file}: ${fmt(r.lines)} metrics lines, ${fmt(r.points)} points drawn`;
  if (r.downsampled) text += ' (downsampled: evenly spaced lines over the whole run, the last one kept)';
  if (r.malformed) text += `; ${fmt(r.malformed)} malformed line${r.malformed === 1 ? '' : 's'} skipped (line ` +
    r.malformed_lines.join(', ') + (r.malformed > r.malformed_lines.length ? ', …' : '') + ')';
  note.textContent = text + '.';
  note.hidden = false;
  note.dataset.lines = String(r.lines);
  note.dataset.points = String(r.points);
  note.dataset.malformed = String(r.malformed);
  /* the window charts need the rows of a live run */
  const w = s.window, empty = (w.regression && !w.regression.actual.length) ||
    (w.classification && !w.classification.roc.fpr.length) || (!w.regression && !w.classification);
  if (empty) {
    document.getElementById('p-scatter').hidden = true;
    document.getElementById('p-hist').hidden = true;
  }
}

function draw(s) {
  window.lastStatus = s;
  drawReplay(s);
  const t0 = s.history.length ? s.history[0].time : (s.run.started || 0);
  drawHeader(s);
  drawTiles(s);
  drawThroughput(s, t0);
  drawPartitions(s);
  drawLatency(s, t0);
  drawLearning(s);
  drawFtrl(s, t0);
  if (s.replay && document.getElementById('p-scatter').hidden) { /* nothing to draw */ }
  else if (s.window.regression) drawRegression(s);
  else if (s.window.classification) drawClassification(s);
  drawModel(s);
  drawTables(s);
  document.body.dataset.points = String(s.history.length);
  document.body.dataset.state = s.run.state;
  document.body.dataset.ready = s.history.length > 0 ? '1' : '0';
}

async function poll() {
  try {
    const r = await fetch('api/status', { cache: 'no-store' });
    if (r.ok) draw(await r.json());
  } catch (e) {
    document.getElementById('reason').textContent = 'server not reachable: ' + e;
  }
  setTimeout(poll, POLL_MS);
}

if (window.STREAMFIT_STATUS) draw(window.STREAMFIT_STATUS);
else poll();
