/* bench.js — the platform comparison (web/bench.html): draws the results of
   `streamfit bench --format json` gathered by `streamfit dashboard --bench`
   (schema: host/http/README.md), fetched once from api/bench or, in a page
   saved with its data, from window.STREAMFIT_BENCH. One section per
   workload; in it every machine's platforms side by side, each bar named
   by its machine. Charts: Chart.js (Debian's libjs-chart.js). */
'use strict';

const PHASES = [['parse', '#c98a00'], ['transfer', '#2962a8'], ['solve', '#2e8540']];
const PEERS = [['speedup_vs_spark', 'vs Spark MLlib', '#c0392b'],
               ['speedup_vs_sklearn', 'vs scikit-learn', '#7b3fa0']];

function known(v) { return v !== null && v !== undefined && !Number.isNaN(v); }

function fmt(v, digits) {
  if (!known(v)) return '–';
  if (digits === undefined) return Math.round(v).toLocaleString('en-US');
  return Number(v).toFixed(digits);
}

/* Seconds with three significant digits, the way the table and the bars say them. */
function secs(v) { return known(v) ? Number(v).toPrecision(3) : '–'; }

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function row(parent, cells, header, data) {
  const tr = el('tr');
  for (const [k, v] of Object.entries(data || {})) tr.dataset[k] = known(v) ? String(v) : '';
  for (const c of cells) tr.appendChild(el(header ? 'th' : 'td', {}, c));
  parent.appendChild(tr);
}

/* data-points on each canvas: how many values it draws (tests read it). */
function chart(canvas, config) {
  config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false,
                                   plugins: { legend: { labels: { boxWidth: 12 } } } }, config.options);
  const c = new Chart(canvas, config);
  canvas.dataset.points = String(c.data.datasets.reduce(
    (n, d) => n + d.data.filter((v) => known(v) && v !== 0).length, 0));
  return c;
}

function workloadKey(w) { return [w.name, w.rows, w.features, w.classes, w.source, w.input].join('|'); }

function workloadTitle(w) {
  return `${w.name}: ${fmt(w.rows)} rows × ${fmt(w.features)} features` +
    (w.classes ? `, ${w.classes} classes` : '') + (w.lambda ? `, λ ${w.lambda}` : '') +
    (w.source === 'file' ? `, from ${w.input}` : ', generated');
}

function qualityNames(w) { return w.classes ? ['accuracy', 'log_loss'] : ['rmse', 'r2']; }

function drawMachines(runs) {
  const t = document.getElementById('t-machines');
  row(t.tHead, ['machine', 'file', 'workload', 'CPU', 'cores', 'memory GiB', 'GPUs', 'date'], true);
  for (const r of runs) {
    const m = r.machine || {};
    row(t.tBodies[0], [r.label, r.file, r.workload.name, m.cpu || '–', fmt(m.cores),
                       fmt(m.memory_gib, 1), (m.gpus && m.gpus.length) ? m.gpus.join('; ') : 'none',
                       r.date || '–'], false, { label: r.label, file: r.file });
  }
}

/* The platforms that ran, every machine's, for one workload's charts. */
function ranPlatforms(runs) {
  const out = [];
  for (const r of runs)
    for (const p of r.platforms)
      if (p.status === 'ok' && known(p.phases.wall)) out.push({ run: r, p: p });
  return out;
}

function drawWall(canvas, ran) {
  chart(canvas, {
    type: 'bar',
    data: { labels: ran.map((x) => [x.p.name, x.run.label]),
            datasets: PHASES.map(([ph, color]) => ({ label: ph, backgroundColor: color,
                                                     data: ran.map((x) => x.p.phases[ph] || 0) })) },
    options: { indexAxis: 'y', scales: { x: { stacked: true, title: { display: true, text: 'seconds (median)' } },
                                         y: { stacked: true, ticks: { autoSkip: false } } } },
  });
}

function drawSpeedup(canvas, ran) {
  const shown = ran.filter((x) => PEERS.some(([k]) => known(x.p[k])));
  chart(canvas, {
    type: 'bar',
    data: { labels: shown.map((x) => [x.p.name, x.run.label]),
            datasets: PEERS.map(([k, label, color]) => ({ label: label, backgroundColor: color,
                                                          data: shown.map((x) => x.p[k]) })) },
    options: { indexAxis: 'y', scales: { x: { type: 'logarithmic',
                                              title: { display: true, text: 'times faster (log scale; 1 = as fast)' } },
                                         y: { ticks: { autoSkip: false } } } },
  });
}

function drawTable(table, runs, w) {
  const q = qualityNames(w);
  row(table.tHead, ['machine', 'platform', 'status', 'wall s (min–max)', 'parse', 'transfer', 'solve',
                    'vs Spark MLlib', 'vs scikit-learn', ...q, 'max coef rel diff', 'rows/s', 'peak MiB'], true);
  for (const r of runs)
    for (const p of r.platforms) {
      const ph = p.phases, qual = p.quality || {};
      row(table.tBodies[0], [
        r.label, p.name + (p.detail ? ` (${p.detail})` : ''), p.status,
        known(ph.wall) ? `${secs(ph.wall)} (${secs(p.wall_min)}–${secs(p.wall_max)})` : '–',
        secs(ph.parse), secs(ph.transfer), secs(ph.solve),
        known(p.speedup_vs_spark) ? fmt(p.speedup_vs_spark, 2) + '×' : '–',
        known(p.speedup_vs_sklearn) ? fmt(p.speedup_vs_sklearn, 2) + '×' : '–',
        ...q.map((n) => fmt(qual[n], 6)),
        known(p.max_coef_rel_diff) ? Number(p.max_coef_rel_diff).toExponential(1) : '–',
        fmt(p.rows_per_s), fmt(p.peak_mib)],
      false, { label: r.label, platform: p.name, status: p.status, wall: ph.wall,
               vsSpark: p.speedup_vs_spark, vsSklearn: p.speedup_vs_sklearn, quality: qual[q[0]] });
    }
}

function draw(data) {
  const runs = data.runs || [];
  const labels = [...new Set(runs.map((r) => r.label))];
  document.getElementById('summary').textContent =
    `${runs.length} result file${runs.length === 1 ? '' : 's'} from ${labels.length} machine${labels.length === 1 ? '' : 's'}`;
  drawMachines(runs);
  const groups = new Map();
  for (const r of runs) {
    const k = workloadKey(r.workload);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(r);
  }
  const root = document.getElementById('workloads');
  let i = 0;
  for (const group of groups.values()) {
    /* one group per machine label, in the order the labels came */
    group.sort((a, b) => labels.indexOf(a.label) - labels.indexOf(b.label));
    const w = group[0].workload, ran = ranPlatforms(group);
    const sec = el('section', { class: 'grid', id: `w-${i}` });
    const h = el('h2', { class: 'workload' }, workloadTitle(w));
    const height = Math.max(160, 70 + 40 * ran.length) + 'px';
    const wall = el('div', { class: 'panel' });
    wall.appendChild(el('h2', {}, 'Wall time per platform, by phase'));
    const wc = el('div', { class: 'chartbox', style: `height:${height}` });
    const wcan = el('canvas', { id: `c-wall-${i}` });
    wc.appendChild(wcan); wall.appendChild(wc);
    const sp = el('div', { class: 'panel' });
    sp.appendChild(el('h2', {}, 'Speed-up over Spark MLlib and scikit-learn'));
    const sc = el('div', { class: 'chartbox', style: `height:${height}` });
    const scan = el('canvas', { id: `c-speedup-${i}` });
    sc.appendChild(scan); sp.appendChild(sc);
    const tp = el('div', { class: 'panel wide' });
    tp.appendChild(el('h2', {}, 'Every platform: times, speed-up, quality'));
    const table = el('table', { id: `t-platforms-${i}` });
    table.appendChild(el('thead')); table.appendChild(el('tbody'));
    tp.appendChild(table);
    sec.appendChild(wall); sec.appendChild(sp); sec.appendChild(tp);
    root.appendChild(h); root.appendChild(sec);
    drawWall(wcan, ran);
    drawSpeedup(scan, ran);
    drawTable(table, group, w);
    i++;
  }
  document.body.dataset.runs = String(runs.length);
  document.body.dataset.workloads = String(i);
  document.body.dataset.ready = runs.length ? '1' : '0';
}

async function load() {
  try {
    const r = await fetch('api/bench', { cache: 'no-store' });
    if (!r.ok) throw new Error(`api/bench: HTTP ${r.status}`);
    draw(await r.json());
  } catch (e) {
    document.getElementById('error').textContent = 'no results: ' + e;
  }
}

if (window.STREAMFIT_BENCH) draw(window.STREAMFIT_BENCH);
else load();
