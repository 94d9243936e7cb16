// The Blueback console: plain JavaScript, served by the server itself. The token lives in this tab's sessionStorage
// and travels in the Authorization header only (never in an address, which logs and history keep).
'use strict';

const TOKEN = 'blueback-token';
const pages = { overview, backups, sets, policies, alerts };
let timer = null;

const $ = (sel) => document.querySelector(sel);
const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const mib = (b) => b == null ? '' : (b / 1048576).toFixed(1) + ' MiB';
const when = (t) => t ? new Date(t).toISOString().replace('T', ' ').slice(0, 19) : '';
const ago = (t) => {
  if (!t) return '';
  const s = Math.round((Date.now() - new Date(t).getTime()) / 1000);
  return s < 0 ? `in ${fmtSecs(-s)}` : `${fmtSecs(s)} ago`;
};
// A due time: "in 3m" ahead, "overdue by 32s" once passed (never "32s ago" for what has not run).
const until = (t) => {
  if (!t) return '';
  const s = Math.round((new Date(t).getTime() - Date.now()) / 1000);
  return s >= 0 ? `in ${fmtSecs(s)}` : `<span class="warn">overdue by ${fmtSecs(-s)}</span>`;
};
const fmtSecs = (s) => s < 90 ? `${s}s` : s < 5400 ? `${Math.round(s / 60)}m` : s < 172800 ? `${Math.round(s / 3600)}h` : `${Math.round(s / 86400)}d`;
const state = (s) => `<span class="${s === 'succeeded' || s === 'online' || s === 'ok' || s === true ? 'ok' : s === 'failed' || s === false || s === 'interrupted' || s === 'degraded' ? 'bad' : s === 'running' ? 'warn' : 'muted'}">${esc(s === true ? 'ok' : s === false ? 'FAILED' : s)}</span>`;
const time = (t) => `<span class="t">${when(t)}</span>`;
const lastGood = (h) => h && h.lastGood ? `${esc(h.lastGoodKind)} ${time(h.lastGood)} <span class="muted">(${ago(h.lastGood)})</span>` : '<span class="muted">none yet</span>';

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const token = sessionStorage.getItem(TOKEN);
  const res = await fetch(path, { ...options, headers: { ...(options.headers || {}), Authorization: `Bearer ${token}` }, cache: 'no-store' });
  if (res.status === 401) throw new Unauthorized((await res.json().catch(() => ({}))).detail || 'The token was refused.');
  if (!res.ok && res.status !== 202) {
    const p = await res.json().catch(() => ({}));
    throw new Error(p.detail || `${res.status} ${res.statusText}`);
  }
  return res.status === 204 ? null : res.json();
}

function showSignIn(message) {
  sessionStorage.removeItem(TOKEN);
  clearInterval(timer);
  $('#signin').hidden = false;
  $('#page').hidden = true;
  $('#nav').hidden = true;
  $('#signout').hidden = true;
  $('#signin-error').textContent = message || '';
  $('#token').focus();
}

async function signIn(token) {
  sessionStorage.setItem(TOKEN, token.trim());
  try {
    const status = await api('/v1/status');
    $('#server').textContent = `${status.server} · ${status.version}`;
  } catch (e) {
    showSignIn(e instanceof Unauthorized ? 'That token was refused: check it, or ask an administrator for one.' : e.message);
    return;
  }
  $('#signin').hidden = true;
  $('#page').hidden = false;
  $('#nav').hidden = false;
  $('#signout').hidden = false;
  route();
}

let drawn = 0;

function route() {
  const name = (location.hash || '#overview').slice(1);
  // #set/POLICY/ID is one set's page, #browse/POLICY/ID[/DB/TABLE[/FROM]] a set read without restoring it (both under Sets).
  const one = name.match(/^set\/([^/]+)\/([0-9a-f]+)$/);
  const browse = name.match(/^browse\/([^/]+)\/([0-9a-f]+)(?:\/([^/]+)\/([^/]+)(?:\/(.+))?)?$/);
  const page = browse ? () => browsePage(...browse.slice(1).map((v) => v == null ? v : decodeURIComponent(v)))
    : one ? () => setPage(decodeURIComponent(one[1]), one[2]) : pages[name] || overview;
  document.querySelectorAll('#nav a').forEach((a) => a.classList.toggle('active', a.getAttribute('href') === `#${one || browse ? 'sets' : name}`));
  clearInterval(timer);
  const draw = async () => {
    const mine = ++drawn; // a slower earlier draw never overwrites a later one
    try {
      const html = await page();
      if (mine !== drawn) return;
      $('#page').innerHTML = html;
      showHover();
      $('#page').dataset.page = name;
      $('#error').textContent = '';
      const count = (await api('/v1/alerts')).alerts.length;
      $('#alert-count').hidden = count === 0;
      $('#alert-count').textContent = count;
    } catch (e) {
      if (e instanceof Unauthorized) showSignIn('Signed out: ' + e.message);
      else $('#error').textContent = e.message;
    }
  };
  if (browse) {
    // Drawn once, not every second: a set stays open on the server while read, and closes only once left idle.
    $('#page').innerHTML = '<p class="muted" id="browse-loading">Opening the set: the server mounts it read-only, reading its logs and only the pages it needs from the repository (seconds, more for a large set or a slow repository)…</p>';
    draw();
    return;
  }
  draw();
  timer = setInterval(draw, 1000);
}

let plotRange = '1h';

async function overview() {
  const [status, list, history] = await Promise.all([api('/v1/status'), api('/v1/policies'), api(`/v1/metrics/history?range=${plotRange}`)]);
  const policiesOf = (name) => list.policies.filter((p) => p.definition.instance === name);
  // Tiles: the last good backup of each instance and policy, and whether its policy keeps its promise.
  let html = '<h2>Health</h2><div class="tiles" id="health">';
  for (const i of status.instances) {
    const ps = policiesOf(i.name);
    const degraded = ps.filter((p) => p.health.state === 'degraded');
    const best = ps.map((p) => p.health).filter((h) => h.lastGood).sort((a, b) => b.lastGood.localeCompare(a.lastGood))[0];
    html += `<div class="tile ${degraded.length ? 'degraded' : ''}" data-tile="instance" data-instance="${esc(i.name)}"><strong>${esc(i.name)}</strong> <span class="muted">instance</span><br>`
      + `Last good backup: ${ps.length ? lastGood(best) : '<span class="muted">no policy</span>'}`
      + `${degraded.map((p) => `<br><span class="bad">degraded</span>: ${esc(p.health.reason)}`).join('')}</div>`;
  }
  for (const p of list.policies) {
    html += `<div class="tile ${p.health.state === 'degraded' ? 'degraded' : ''}" data-tile="policy" data-policy="${esc(p.definition.name)}"><strong>${esc(p.definition.name)}</strong> <span class="muted">policy, instance ${esc(p.definition.instance)}</span><br>`
      + `Last good backup: ${lastGood(p.health)}<br>${state(p.health.state)}${p.health.reason ? ': ' + esc(p.health.reason) : ''}</div>`;
  }
  html += '</div>';
  html += '<h2>Instances</h2><div class="scroll"><table id="instances"><tr><th>Instance</th><th>State</th><th>Databases</th><th>Log generations</th><th>Checkpoint</th><th>Last full backup</th><th>Shipping</th></tr>';
  for (const i of status.instances) {
    const dbs = (i.databases || []).map((d) => `${esc(d.name)} <span class="muted">${mib(d.sizeBytes)}</span>`).join('<br>');
    const fulls = (i.databases || []).map((d) => d.lastBackups && d.lastBackups.full ? when(d.lastBackups.full.time) : 'never');
    const ship = i.shipping ? `lag ${i.shipping.lagSeconds}s, ${i.shipping.unshippedGenerations} waiting${i.shipping.warning ? ` <span class="warn">${esc(i.shipping.warning)}</span>` : ''}` : '<span class="muted">off</span>';
    // Online but a policy failing or behind is not green: the instance is degraded.
    const degraded = i.state === 'online' && policiesOf(i.name).some((p) => p.health.state === 'degraded');
    html += `<tr data-instance="${esc(i.name)}"><td>${esc(i.name)}</td><td class="state">${state(degraded ? 'degraded' : i.state)}${i.backupInProgress ? ' <span class="warn">backup running</span>' : ''}</td><td>${dbs}</td>`
      + `<td class="num">${i.oldestGeneration ?? ''}–${i.currentGeneration ?? ''}</td><td><code>${esc(i.checkpoint)}</code></td><td><span class="t">${esc([...new Set(fulls)].join(', '))}</span></td><td>${ship}</td></tr>`;
  }
  const ranges = ['1h', '24h', '7d'].map((r) => `<button class="range${r === plotRange ? ' on' : ''}" data-range="${r}">${r}</button>`).join('');
  html += `</table></div><h2>Throughput <span class="ranges">${ranges}</span></h2>` + plot(history);
  return html;
}

// The plot's data, kept for the hover read-out (the page is redrawn every second; the pointer's place is kept too).
let plotData = null;
let hoverX = null;

// A round step (1, 2 or 5 times a power of ten) of at least raw.
const niceStep = (raw) => { const p = Math.pow(10, Math.floor(Math.log10(raw))), m = raw / p; return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p; };

// An axis from 0 in about four round steps; the second axis takes the first's number of steps (so both label the
// same grid lines), each of its own round size.
function ticks(max, steps) {
  const step = niceStep(max / (steps || 4));
  const n = steps || Math.ceil(max / step - 1e-9);
  return { top: step * n, values: Array.from({ length: n + 1 }, (_, i) => step * i) };
}

function plot(history) {
  const samples = history.samples;
  const w = 1000, h = 240, left = 64, right = 64, top = 14, bottom = 34;
  plotData = null;
  if (samples.length < 2) return `<p class="muted" id="plot">Collecting samples (one per ${fmtSecs(history.intervalSeconds)} over ${esc(history.range)}; ${samples.length} so far)…</p>`;
  const t0 = new Date(samples[0].time).getTime(), t1 = new Date(samples[samples.length - 1].time).getTime();
  const x = (t) => left + (w - left - right) * (new Date(t).getTime() - t0) / Math.max(1, t1 - t0);
  const c = ticks(Math.max(1, ...samples.map((s) => s.commitsPerSecond)));
  const b = ticks(Math.max(1, ...samples.map((s) => s.backupMBps)), c.values.length - 1);
  const y = (v, scale) => h - bottom - (h - top - bottom) * v / scale.top;
  const line = (key, scale) => samples.map((s, i) => `${i ? 'L' : 'M'}${x(s.time).toFixed(1)},${y(s[key], scale).toFixed(1)}`).join('');
  const fmt = (v) => v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1).replace(/\.0$/, '') : String(+v.toFixed(2));
  let g = '';
  c.values.forEach((v, i) => {
    const yy = y(v, c).toFixed(1);
    g += `<line class="grid" x1="${left}" x2="${w - right}" y1="${yy}" y2="${yy}"/><text class="axis-c" x="${left - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle">${fmt(v)}</text>`;
    g += `<text class="axis-b" x="${w - right + 6}" y="${yy}" dominant-baseline="middle">${fmt(b.values[i])}</text>`;
  });
  const span = t1 - t0;
  for (let k = 0; k <= 4; k++) {
    const t = t0 + span * k / 4, xx = x(t).toFixed(1);
    const iso = new Date(t).toISOString();
    const label = span < 600000 ? iso.slice(11, 19) : history.range === '1h' ? iso.slice(11, 16) : iso.slice(5, 16).replace('T', ' ');
    g += `<line class="grid" x1="${xx}" x2="${xx}" y1="${top}" y2="${h - bottom}"/><text x="${xx}" y="${h - bottom + 14}" text-anchor="middle">${label}</text>`;
  }
  plotData = { samples, x, t0, t1, left, right, w, h, top, bottom };
  return `<div class="plotbox"><svg id="plot" class="plot" viewBox="0 0 ${w} ${h}" role="img" aria-label="commits per second and backup MB/s over ${esc(history.range)}">`
    + g + `<text class="axis-title axis-c" transform="translate(14 ${(h - bottom + top) / 2}) rotate(-90)" text-anchor="middle">commits per second</text>`
    + `<text class="axis-title axis-b" transform="translate(${w - 10} ${(h - bottom + top) / 2}) rotate(90)" text-anchor="middle">backup MB/s</text>`
    + `<text x="${(left + w - right) / 2}" y="${h - 4}" text-anchor="middle">time (UTC)</text>`
    + `<path class="commits" d="${line('commitsPerSecond', c)}"/><path class="backup" d="${line('backupMBps', b)}"/>`
    + `<line id="plot-cursor" class="cursor" x1="0" x2="0" y1="${top}" y2="${h - bottom}" visibility="hidden"/></svg><div id="plot-tip" class="tip" hidden></div></div>`
    + `<p class="legend"><span class="c">— commits per second (left axis)</span><span class="b">— backup MB/s sent to backup programs (right axis)</span><span class="muted">${samples.length} points, one per ${fmtSecs(history.intervalSeconds)} (the mean of each)</span></p>`;
}

// Values on hover: the sample nearest the pointer, with its time.
function showHover() {
  const svg = document.querySelector('#plot');
  const tip = document.querySelector('#plot-tip');
  if (!svg || !tip || !plotData || hoverX == null) return;
  const box = svg.getBoundingClientRect();
  const vx = (hoverX - box.left) * plotData.w / box.width;
  if (vx < plotData.left || vx > plotData.w - plotData.right) { tip.hidden = true; return; }
  let best = plotData.samples[0];
  for (const s of plotData.samples) if (Math.abs(plotData.x(s.time) - vx) < Math.abs(plotData.x(best.time) - vx)) best = s;
  const cx = plotData.x(best.time);
  const cursor = document.querySelector('#plot-cursor');
  cursor.setAttribute('x1', cx); cursor.setAttribute('x2', cx); cursor.setAttribute('visibility', 'visible');
  tip.hidden = false;
  tip.innerHTML = `${time(best.time)}<br><span class="c">${best.commitsPerSecond} commits/s</span><br><span class="b">${best.backupMBps} MB/s backup</span><br><span class="muted">${best.logMBps} MB/s log</span>`;
  tip.style.left = `${Math.min(box.width - 170, Math.max(0, cx * box.width / plotData.w + 10))}px`;
}

document.addEventListener('mousemove', (e) => {
  const svg = e.target.closest && e.target.closest('#plot');
  hoverX = svg ? e.clientX : null;
  if (svg) showHover();
  else if (document.querySelector('#plot-tip')) { document.querySelector('#plot-tip').hidden = true; document.querySelector('#plot-cursor')?.setAttribute('visibility', 'hidden'); }
});

// Recent (time, bytes) of each running backup: its rate over the last ten seconds, and so its time left.
const seen = new Map();
const BACKUP_KINDS = ['full', 'incremental', 'differential'];

function rateOf(id, bytes) {
  const now = Date.now();
  const list = (seen.get(id) || []).filter((p) => now - p.t <= 10000);
  list.push({ t: now, b: bytes });
  seen.set(id, list);
  const first = list[0];
  return now - first.t >= 1500 ? (bytes - first.b) / ((now - first.t) / 1000) : null;
}

async function backups() {
  const [sessions, list, restores] = await Promise.all([api('/v1/backups'), api('/v1/policies'), api('/v1/restores')]);
  let html = '<h2>Running backups</h2><div class="scroll"><table id="running-backups"><tr><th>Backup</th><th>Instance</th><th>Type</th><th>State</th><th>Started</th><th>Progress</th><th>Rate</th><th>Time left</th><th></th></tr>';
  if (sessions.sessions.length === 0) html += '<tr><td colspan="9" class="muted">No backup is running.</td></tr>';
  for (const s of sessions.sessions) {
    // The server's total holds what this backup type reads (images or changed pages) and its logs: a true denominator.
    const total = Math.max(s.totalBytes || 0, 1), done = s.bytesSent || 0;
    const rate = rateOf(s.id, done);
    const left = rate > 0 ? fmtSecs(Math.round(Math.max(0, total - done) / rate)) : '';
    // A policy's backup is stopped through its job (its program then exits "stopped" and removes its partial set).
    const job = list.policies.find((p) => p.definition.instance === s.instance && p.running && BACKUP_KINDS.includes(p.running.kind))?.running;
    const stop = job ? `data-stop-policy="${esc(job.policy)}" data-stop-job="${esc(job.id)}"` : `data-stop-backup="${esc(s.id)}"`;
    html += `<tr data-backup="${esc(s.id)}"><td class="id">${esc(s.id.slice(0, 8))}</td><td>${esc(s.instance)}</td><td>${esc(s.type)}</td><td>${state(s.state)}</td><td>${time(s.started)}</td>`
      + `<td class="progress"><progress value="${Math.min(done, total)}" max="${total}"></progress> <span class="sent" data-bytes="${done}" data-total="${s.totalBytes}">${mib(done)}</span> of <span class="total">${mib(s.totalBytes)}</span> <span class="muted">(${Math.min(100, Math.floor(100 * done / total))}%, logs included)</span></td>`
      + `<td class="num rate">${rate != null ? (rate / 1e6).toFixed(1) + ' MB/s' : ''}</td><td class="num left">${left}</td>`
      + `<td><button class="act stop" ${stop} data-confirm="Stop backup ${esc(s.id.slice(0, 8))} of ${esc(s.instance)}? Its program stops and removes what it wrote; no set is committed.">Stop</button></td></tr>`;
  }
  html += '</table></div><h2>Running restores</h2><div class="scroll"><table id="running-restores"><tr><th>Restore</th><th>Instance</th><th>Mode</th><th>State</th><th>Started</th><th>Progress</th></tr>';
  if (restores.sessions.length === 0) html += '<tr><td colspan="6" class="muted">No restore is running.</td></tr>';
  for (const r of restores.sessions) {
    html += `<tr data-restore="${esc(r.id)}"><td class="id">${esc(r.id.slice(0, 8))}</td><td>${esc(r.instance)}</td><td>${esc(r.mode)}</td><td>${state(r.state)}</td><td>${time(r.started)}</td>`
      + `<td>${mib(r.bytesWritten)} written, ${r.filesWritten} file(s)${r.phase ? ` <span class="muted">${esc(r.phase)}</span>` : ''}</td></tr>`;
  }
  html += '</table></div><h2>Policy jobs running</h2><div class="scroll"><table id="running-jobs"><tr><th>Policy</th><th>Job</th><th>Kind</th><th>Trigger</th><th>Started</th><th>Sent</th></tr>';
  const jobs = list.policies.flatMap((p) => [p.running, p.proving].filter(Boolean));
  if (jobs.length === 0) html += '<tr><td colspan="6" class="muted">No policy job is running.</td></tr>';
  for (const j of jobs) html += `<tr><td>${esc(j.policy)}</td><td class="id">${esc(j.id)}</td><td>${esc(j.kind)}</td><td>${esc(j.trigger)}</td><td>${ago(j.started)}</td><td>${mib(j.progressBytes)}</td></tr>`;
  return html + '</table></div>';
}

const STORED_HELP = 'Size: the set\'s bytes as read from the server (images or changed pages, and logs). Stored: the bytes it added to the repository, after deduplication (chunks an earlier set holds already are not stored again) and compression. A stored size far below the size is normal for a set taken soon after another.';
const dated = (ok, t) => ok == null ? '<span class="muted">never</span>' : `${state(ok)} ${time(t)}`;

async function sets() {
  const list = await api('/v1/policies');
  if (list.policies.length === 0) return '<h2>Sets</h2><p class="muted">No policy is defined, so the server knows no repository. Add one to the config (docs/console.md).</p>';
  let html = '';
  for (const p of list.policies) {
    html += `<h2>${esc(p.definition.repository.location)} <span class="muted">(policy ${esc(p.definition.name)}, instance ${esc(p.definition.instance)}${p.setsListed ? `, listed ${ago(p.setsListed)}` : ''})</span></h2>`;
    const copyTo = p.definition.copyTo;
    if (copyTo) html += secondSite(p, copyTo);
    html += `<div class="scroll"><table class="sets" data-policy="${esc(p.definition.name)}"><tr><th>Set</th><th>Type</th><th>Parent</th><th>Ended</th><th>Generations</th><th title="${esc(STORED_HELP)}">Size</th><th title="${esc(STORED_HELP)}">Stored <span class="help">?</span></th><th>Verified</th><th>Proof</th>${copyTo ? '<th>Second site</th>' : ''}<th></th></tr>`;
    if (p.sets.length === 0) html += `<tr><td colspan="${copyTo ? 11 : 10}" class="muted">No set yet.</td></tr>`;
    for (const s of [...p.sets].sort((a, b) => (b.ended || '').localeCompare(a.ended || ''))) {
      const proof = s.proved == null ? '<span class="muted">not yet</span>' : `${dated(s.proved, s.provedAt)}${s.digestMatch === true ? ' <span class="muted">digest match</span>' : s.digestMatch === false ? ' <span class="bad">digest differs</span>' : ''}`;
      html += `<tr data-set="${esc(s.id)}" data-proof="${s.proved == null ? 'none' : s.proved ? 'ok' : 'failed'}"><td class="id"><a href="#set/${encodeURIComponent(p.definition.name)}/${esc(s.id)}">${esc(s.id.slice(0, 8))}</a></td><td>${esc(s.type)}</td><td class="id">${esc(s.parent ? s.parent.slice(0, 8) : '–')}</td>`
        + `<td>${time(s.ended)}</td><td class="num">${s.genLow}–${s.genHigh}</td><td class="num">${mib(s.size)}</td><td class="num">${mib(s.stored)}</td><td class="verified">${dated(s.verified, s.verifiedAt)}</td><td class="proof">${proof}</td>${copyTo ? `<td class="copied" data-copied="${s.copied == null ? 'unknown' : s.copied}">${s.copied == null ? '<span class="muted">unknown</span>' : s.copied ? '<span class="ok">copied</span>' : '<span class="muted">not yet</span>'}</td>` : ''}<td>${browseLink(p.definition.name, s.id)}</td></tr>`;
    }
    html += `</table></div><p class="legend muted" id="stored-legend">${esc(STORED_HELP)}</p>`;
  }
  return html;
}

// A policy's second repository: where, how many of the sets it holds, its last copy job, and why it could not be
// listed if it could not.
const secondSite = (p, copyTo) => {
  const copied = p.sets.filter((s) => s.copied === true).length;
  const last = p.last.copy;
  const job = last ? `last copy ${state(last.state)} ${time(last.ended || last.started)}${last.error ? ` <span class="error">${esc(last.error)}</span>` : ''}` : 'no copy yet';
  return `<p class="second-site" data-location="${esc(copyTo.location)}">Second site: <span class="id">${esc(copyTo.location)}</span> · holds ${copied} of ${p.sets.length} sets · ${job}`
    + `${p.copyListError ? ` · <span class="bad">${esc(p.copyListError)}</span>` : ''}</p>`;
};

// The set-checking job running now, and the last of each kind, with their outcome (what the set page's buttons start).
const jobs = (p) => {
  const list = [p.proving, p.last.verify, p.last.prove, p.last.restore].filter(Boolean);
  if (list.length === 0) return '';
  return '<div class="scroll"><table id="set-jobs"><tr><th>Job</th><th>Kind</th><th>Set</th><th>State</th><th>Started</th><th>Result</th></tr>'
    + list.map((j) => `<tr data-job="${esc(j.id)}" data-kind="${esc(j.kind)}" data-state="${esc(j.state)}"><td class="id">${esc(j.id)}</td><td>${esc(j.kind)}</td><td class="id">${esc((j.set || '').slice(0, 8))}</td><td>${state(j.state)}</td><td>${time(j.started)}</td><td class="error">${j.restoredAs ? `<span class="ok">restored as instance <span class="restored">${esc(j.restoredAs)}</span></span> ` : ''}${esc(j.error)}</td></tr>`).join('')
    + '</table></div>';
};

// A set's files never change once committed: asked for once per set (the server reads the repository's manifests).
const filesCache = new Map();

async function filesOf(policy, id) {
  const key = `${policy}/${id}`;
  if (!filesCache.has(key)) filesCache.set(key, await api(`/v1/policies/${encodeURIComponent(policy)}/sets/${id}`));
  return filesCache.get(key);
}

// One set: its chain (the sets a restore of it reads, full first) and the sets built on it, its checks, and a proof.
async function setPage(policy, id) {
  const p = await api(`/v1/policies/${encodeURIComponent(policy)}`);
  const byId = new Map(p.sets.map((s) => [s.id, s]));
  const s = byId.get(id);
  if (!s) return `<h2>Set ${esc(id.slice(0, 8))}</h2><p class="muted">Policy ${esc(policy)}'s repository lists no such set (retention may have forgotten it). <a href="#sets">All sets</a></p>`;
  const chain = [];
  for (let c = s; c; c = c.parent ? byId.get(c.parent) : null) chain.unshift(c);
  const row = (c) => `<tr data-chain="${esc(c.id)}"><td class="id"><a href="#set/${encodeURIComponent(policy)}/${esc(c.id)}">${esc(c.id.slice(0, 8))}</a></td><td>${esc(c.type)}</td><td>${time(c.ended)}</td><td class="num">${c.genLow}–${c.genHigh}</td><td class="num">${mib(c.size)}</td><td class="num">${mib(c.stored)}</td></tr>`;
  const head = `<tr><th>Set</th><th>Type</th><th>Ended</th><th>Generations</th><th title="${esc(STORED_HELP)}">Size</th><th title="${esc(STORED_HELP)}">Stored</th></tr>`;
  const children = p.sets.filter((c) => c.parent === id);
  let html = `<h2>Set <span class="id">${esc(s.id)}</span> <span class="muted">(${esc(s.type)}, policy ${esc(policy)}, ${esc(p.definition.repository.location)})</span></h2>`
    + `<p>Verified: <span class="verified">${dated(s.verified, s.verifiedAt)}</span> · Proof: <span class="proof">${dated(s.proved, s.provedAt)}</span>`
    + `${s.digestMatch === true ? ' <span class="muted">digest match</span>' : s.digestMatch === false ? ' <span class="bad">digest differs</span>' : ''}</p>`
    + `<p><button class="act" data-run="${esc(policy)}" data-kind="verify" data-set="${esc(s.id)}" data-confirm="Verify set ${esc(s.id.slice(0, 8))}? The server re-reads every chunk, hash and page of it (a verify job; its result shows here and under Policies).">Verify</button>`
    + `<button class="act" data-run="${esc(policy)}" data-kind="prove" data-set="${esc(s.id)}" data-confirm="Prove set ${esc(s.id.slice(0, 8))}? The server restores its chain into scratch space and compares every table (a proof job; its result shows here and under Policies).">Prove</button>`
    + `<button class="act" data-run="${esc(policy)}" data-kind="restore" data-set="${esc(s.id)}" data-confirm="Restore set ${esc(s.id.slice(0, 8))} (with its chain) into a new instance '${esc(p.definition.instance)}-${esc(s.id.slice(0, 8))}' of this server, beside the live one? The live instance is not touched.">Restore as new</button>${browseLink(policy, s.id)}</p>`
    + jobs(p)
    + `<h2>Chain <span class="muted">(what a restore of this set reads, full first)</span></h2><div class="scroll"><table id="chain">${head}${chain.map(row).join('')}</table></div>`
    + `<h2>Built on it</h2><div class="scroll"><table id="children">${head}${children.length ? children.map(row).join('') : '<tr><td colspan="6" class="muted">No set has this one as its parent.</td></tr>'}</table></div>`
    + `<p class="legend muted">${esc(STORED_HELP)}</p>`;
  const files = await filesOf(policy, s.id);
  html += `<h2>Files <span class="muted">(${files.files.length})</span></h2><div class="scroll"><table id="set-files"><tr><th>File</th><th>Size</th><th>Chunks</th><th title="Its chunks' bytes in the repository, compressed; a chunk another set holds too is counted here as well.">Compressed</th></tr>`
    + files.files.map((f) => `<tr><td><code>${esc(f.path)}</code></td><td class="num">${mib(f.size)}</td><td class="num">${f.chunks}</td><td class="num">${mib(f.compressed)}</td></tr>`).join('')
    + '</table></div>';
  return html;
}

// A set read in place, without restoring it: its databases and tables, then a table's keys and values a page at a time.
const BROWSE_LIMIT = 50;
const browseHref = (policy, id, ...rest) => '#browse/' + [policy, id, ...rest].map((v) => encodeURIComponent(v)).join('/');
const browseLink = (policy, id) => `<a class="act browse" href="${browseHref(policy, id)}" title="Read this set's tables and keys without restoring it (read-only)">Browse</a>`;

async function browsePage(policy, id, db, table, from) {
  const base = `/v1/policies/${encodeURIComponent(policy)}/sets/${encodeURIComponent(id)}/browse`;
  let set, rows;
  try {
    set = await api(base);
    if (db) rows = await api(`${base}/${encodeURIComponent(db)}/${encodeURIComponent(table)}?limit=${BROWSE_LIMIT}${from ? `&from=${encodeURIComponent(from)}` : ''}`);
  } catch (e) {
    if (e instanceof Unauthorized) throw e;
    return `<h2>Browse set <span class="id">${esc(id.slice(0, 8))}</span> <span class="muted">(policy ${esc(policy)})</span></h2>`
      + `<p class="error" id="browse-error">${esc(e.message)}</p><p><button class="act" id="browse-retry">Try again</button> <a href="#sets">All sets</a></p>`;
  }
  const asOf = set.lastCommit || set.ended;
  let html = `<h2>Browse set <span class="id">${esc(set.set)}</span> <span class="muted">(policy ${esc(policy)}, instance ${esc(set.instance)})</span></h2>`
    + `<p class="banner" id="browse-banner"><strong>Read-only: a backup set as of ${time(asOf)}</strong> <span class="muted">(${esc(set.describe)}; backup ended ${time(set.ended)}). Nothing here is the live data, and nothing can be changed.</span></p>`
    + `<p><a href="#set/${encodeURIComponent(policy)}/${esc(set.set)}">The set's page</a>${db ? ` · <a href="${browseHref(policy, set.set)}">All tables</a>` : ''}</p>`;
  if (!db) {
    html += '<div class="scroll"><table id="browse-tables"><tr><th>Database</th><th>Table</th><th title="Rows at the end of the set, as its digest recorded them">Rows</th></tr>';
    for (const d of set.databases) {
      if (d.tables.length === 0) html += `<tr><td>${esc(d.name)}</td><td colspan="2" class="muted">No tables.</td></tr>`;
      for (const t of d.tables) {
        html += `<tr data-table="${esc(d.name)}/${esc(t.name)}"><td>${esc(d.name)}</td><td><a href="${browseHref(policy, set.set, d.name, t.name)}">${esc(t.name)}</a></td><td class="num">${t.rows ?? '<span class="muted">not recorded</span>'}</td></tr>`;
      }
    }
    return html + '</table></div>';
  }
  html += `<h2>${esc(db)} / ${esc(table)} <span class="muted">${from ? `from key ${esc(from)}` : 'from the first key'}</span></h2>`
    + '<div class="scroll"><table id="browse-rows"><tr><th>Key</th><th>Value</th><th>Bytes</th></tr>';
  if (rows.items.length === 0) html += '<tr><td colspan="3" class="muted">No keys here.</td></tr>';
  for (const r of rows.items) {
    const key = r.keyBase64 ? `base64:${r.keyBase64}` : r.key;
    const value = r.encoding === 'hex' ? `<span class="muted">hex</span> <code>${esc(r.value)}</code>` : esc(r.value);
    html += `<tr data-key="${esc(key)}"><td class="key"><code>${esc(key)}</code></td><td class="value">${value}${r.truncated ? ' <span class="muted">… (cut for display)</span>' : ''}</td><td class="num">${r.bytes}</td></tr>`;
  }
  html += '</table></div><p class="pager">'
    + (from ? `<a href="${browseHref(policy, set.set, db, table)}">First page</a> ` : '')
    + (rows.next ? `<a class="act" id="browse-next" href="${browseHref(policy, set.set, db, table, rows.next)}">Next</a>` : '<span class="muted" id="browse-end">End of the table.</span>')
    + '</p>';
  return html;
}

async function policies() {
  const list = await api('/v1/policies');
  if (list.policies.length === 0) return '<h2>Policies</h2><p class="muted">No policy is defined. Add one under "policies" in the server\'s config (docs/console.md), or PUT /v1/policies/NAME.</p>';
  let html = '<h2>Policies</h2><table id="policies"><tr><th>Policy</th><th>Instance</th><th>Schedule</th><th>Next</th><th>Last</th><th>Now</th><th></th></tr>';
  for (const p of list.policies) {
    const d = p.definition;
    const sched = ['full', 'incremental', 'differential'].filter((k) => d[k]).map((k) => `${k} every ${esc(d[k])}`).join('<br>') + (d.changedPages ? '<br><span class="muted">changed pages</span>' : '') + (d.shipping ? '<br>shipping' : '');
    const next = Object.entries(p.next).map(([k, t]) => `${esc(k)} ${until(t)}`).join('<br>');
    const last = Object.values(p.last).sort((a, b) => (b.ended || '').localeCompare(a.ended || '')).slice(0, 3).map((j) => `${esc(j.kind)} ${state(j.state)} ${ago(j.ended)}`).join('<br>');
    const now = [p.running, p.proving].filter(Boolean).map((j) => `${esc(j.kind)} <span class="id">${esc(j.id)}</span>`).join('<br>') || '<span class="muted">idle</span>';
    html += `<tr data-policy="${esc(d.name)}"><td>${esc(d.name)}${p.consecutiveFailures ? ` <span class="bad">${p.consecutiveFailures} failed</span>` : ''}</td><td>${esc(d.instance)}</td><td>${sched}</td><td>${next}</td><td>${last}</td><td>${now}${p.shipper ? `<br><span class="muted">shipper ${esc(p.shipper)}</span>` : ''}</td>`
      + `<td><button class="act" data-run="${esc(d.name)}" data-kind="full" data-confirm="Take a full backup of ${esc(d.instance)} now (policy ${esc(d.name)})?">Full now</button><button class="act" data-run="${esc(d.name)}" data-kind="prove" data-confirm="Prove the newest set of policy ${esc(d.name)} now?">Prove newest</button></td></tr>`;
  }
  html += '</table>';
  for (const p of list.policies) {
    const h = await api(`/v1/policies/${encodeURIComponent(p.definition.name)}/history?limit=20`);
    html += `<h2>History of ${esc(p.definition.name)}</h2><table class="history"><tr><th>Job</th><th>Kind</th><th>Trigger</th><th>Outcome</th><th>Started</th><th>Duration</th><th>Set</th><th>Size</th><th>Rate</th><th>Error</th></tr>`;
    if (h.jobs.length === 0) html += '<tr><td colspan="10" class="muted">No job has run yet.</td></tr>';
    for (const j of h.jobs) {
      html += `<tr><td class="id">${esc(j.id)}</td><td>${esc(j.kind)}</td><td>${esc(j.trigger)}</td><td>${state(j.state)}</td><td>${time(j.started)}</td><td class="num">${j.seconds != null ? j.seconds.toFixed(1) + ' s' : ''}</td>`
        + `<td class="id">${j.set ? `<a href="#set/${encodeURIComponent(p.definition.name)}/${esc(j.set)}">${esc(j.set.slice(0, 8))}</a>` : ''}</td><td class="num">${mib(j.bytes)}</td><td class="num">${j.rateMBps != null ? j.rateMBps + ' MB/s' : ''}</td><td class="error">${esc(j.error)}</td></tr>`;
    }
    html += '</table>';
  }
  return html;
}

async function alerts() {
  const [list, history] = await Promise.all([api('/v1/alerts'), api('/v1/alerts/history?limit=50')]);
  let html = '<h2>Alerts</h2>';
  if (list.alerts.length === 0) html += '<p class="ok" id="no-alerts">Nothing needs attention.</p>';
  for (const a of list.alerts) {
    const ack = a.acknowledgedBy ? `<span class="muted acked">acknowledged by ${esc(a.acknowledgedBy)} ${time(a.acknowledgedAt)}</span>`
      : `<button class="act" data-ack="${esc(a.id)}" data-confirm="Acknowledge '${esc(a.subject)}'? Your token's name is recorded; the alert stays until what it says is fixed.">Acknowledge</button>`;
    html += `<div class="alert ${esc(a.severity)}${a.acknowledgedBy ? ' acknowledged' : ''}" data-alert="${esc(a.id)}"><strong>${esc(a.subject)}</strong> <span class="muted">${esc(a.severity)}${a.raised ? ', raised ' + time(a.raised) : ''}</span> ${ack}<br>${esc(a.message)}</div>`;
  }
  html += '<h2>History</h2><div class="scroll"><table id="alert-history"><tr><th>Time</th><th>Change</th><th>Subject</th><th>What</th></tr>';
  if (history.events.length === 0) html += '<tr><td colspan="4" class="muted">No alert has been raised.</td></tr>';
  for (const e of history.events) {
    html += `<tr data-event="${esc(e.event)}"><td>${time(e.time)}</td><td>${esc(e.event)}${e.event === 'acknowledged' ? ` <span class="muted">by ${esc(e.alert.acknowledgedBy)}</span>` : ''}</td><td>${esc(e.alert.subject)}</td><td>${esc(e.alert.message)}</td></tr>`;
  }
  return html + '</table></div>';
}

// Every action asks first (the text is the button's data-confirm), then calls the API with the signed-in token; the
// server checks the role (a read token gets a 403, said below the page).
async function act(b) {
  if (!window.confirm(b.dataset.confirm)) return;
  try {
    if (b.dataset.run) {
      const set = b.dataset.set ? `&set=${encodeURIComponent(b.dataset.set)}` : '';
      const job = await api(`/v1/policies/${encodeURIComponent(b.dataset.run)}/run?kind=${b.dataset.kind}${set}`, { method: 'POST' });
      $('#error').textContent = `Started ${job.kind} job ${job.id}.`;
    } else if (b.dataset.stopJob) {
      await api(`/v1/policies/${encodeURIComponent(b.dataset.stopPolicy)}/jobs/${encodeURIComponent(b.dataset.stopJob)}`, { method: 'DELETE' });
      $('#error').textContent = `Stopping job ${b.dataset.stopJob}: its program removes what it wrote, and no set is committed.`;
    } else if (b.dataset.stopBackup) {
      await api(`/v1/backups/${encodeURIComponent(b.dataset.stopBackup)}`, { method: 'DELETE' });
      $('#error').textContent = `Stopped backup ${b.dataset.stopBackup.slice(0, 8)}; its program ends without committing a set.`;
    } else if (b.dataset.ack) {
      await api(`/v1/alerts/${encodeURIComponent(b.dataset.ack)}/ack`, { method: 'POST' });
    }
  } catch (err) {
    $('#error').textContent = err.message;
  }
}

document.addEventListener('click', (e) => {
  const r = e.target.closest('button[data-range]');
  if (r) { plotRange = r.dataset.range; route(); return; }
  const b = e.target.closest('button[data-confirm]');
  if (b) act(b);
  if (e.target.closest('#browse-retry')) route();
});
$('#signin').addEventListener('submit', (e) => { e.preventDefault(); signIn($('#token').value); });
$('#signout').addEventListener('click', () => showSignIn('Signed out.'));
window.addEventListener('hashchange', () => { if (sessionStorage.getItem(TOKEN)) route(); });
if (sessionStorage.getItem(TOKEN)) signIn(sessionStorage.getItem(TOKEN)); else showSignIn();
