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
const fmtSecs = (s) => s < 90 ? `${s}s` : s < 5400 ? `${Math.round(s / 60)}m` : s < 172800 ? `${Math.round(s / 3600)}h` : `${Math.round(s / 86400)}d`;
const state = (s) => `<span class="${s === 'succeeded' || s === 'online' || s === true ? 'ok' : s === 'failed' || s === false || s === 'interrupted' ? 'bad' : s === 'running' ? 'warn' : 'muted'}">${esc(s === true ? 'ok' : s === false ? 'FAILED' : s)}</span>`;

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

function route() {
  const name = (location.hash || '#overview').slice(1);
  const page = pages[name] || overview;
  document.querySelectorAll('#nav a').forEach((a) => a.classList.toggle('active', a.getAttribute('href') === `#${name}`));
  clearInterval(timer);
  const draw = async () => {
    try {
      $('#page').innerHTML = await page();
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
  draw();
  timer = setInterval(draw, 1000);
}

async function overview() {
  const [status, history] = await Promise.all([api('/v1/status'), api('/v1/metrics/history')]);
  let html = '<h2>Instances</h2><table id="instances"><tr><th>Instance</th><th>State</th><th>Databases</th><th>Log generations</th><th>Checkpoint</th><th>Last full backup</th><th>Shipping</th></tr>';
  for (const i of status.instances) {
    const dbs = (i.databases || []).map((d) => `${esc(d.name)} <span class="muted">${mib(d.sizeBytes)}</span>`).join('<br>');
    const fulls = (i.databases || []).map((d) => d.lastBackups && d.lastBackups.full ? when(d.lastBackups.full.time) : 'never');
    const ship = i.shipping ? `lag ${i.shipping.lagSeconds}s, ${i.shipping.unshippedGenerations} waiting${i.shipping.warning ? ` <span class="warn">${esc(i.shipping.warning)}</span>` : ''}` : '<span class="muted">off</span>';
    html += `<tr data-instance="${esc(i.name)}"><td>${esc(i.name)}</td><td>${state(i.state)}${i.backupInProgress ? ' <span class="warn">backup running</span>' : ''}</td><td>${dbs}</td>`
      + `<td class="num">${i.oldestGeneration ?? ''}–${i.currentGeneration ?? ''}</td><td><code>${esc(i.checkpoint)}</code></td><td>${esc([...new Set(fulls)].join(', '))}</td><td>${ship}</td></tr>`;
  }
  html += '</table><h2>Throughput, last hour</h2>' + plot(history.samples);
  return html;
}

function plot(samples) {
  const w = 1000, h = 160, pad = 30;
  if (samples.length < 2) return '<p class="muted" id="plot">Collecting samples (one every five seconds)…</p>';
  const t0 = new Date(samples[0].time).getTime(), t1 = new Date(samples[samples.length - 1].time).getTime();
  const x = (t) => pad + (w - 2 * pad) * (new Date(t).getTime() - t0) / Math.max(1, t1 - t0);
  const line = (key, max) => samples.map((s, i) => `${i ? 'L' : 'M'}${x(s.time).toFixed(1)},${(h - pad - (h - 2 * pad) * s[key] / max).toFixed(1)}`).join('');
  const maxC = Math.max(1, ...samples.map((s) => s.commitsPerSecond)), maxB = Math.max(1, ...samples.map((s) => s.backupMBps));
  return `<svg id="plot" class="plot" viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" role="img" aria-label="commits per second and backup MB/s">`
    + `<path class="commits" d="${line('commitsPerSecond', maxC)}"/><path class="backup" d="${line('backupMBps', maxB)}"/>`
    + `<text x="${pad}" y="12">max ${maxC.toFixed(0)} commits/s · ${maxB.toFixed(0)} MB/s</text><text x="${pad}" y="${h - 8}">${when(samples[0].time)}</text><text x="${w - 160}" y="${h - 8}">${when(samples[samples.length - 1].time)}</text></svg>`
    + '<p class="legend"><span class="c">— commits per second</span><span class="b">— backup MB/s (sent to backup programs)</span></p>';
}

async function backups() {
  const [sessions, list, restores] = await Promise.all([api('/v1/backups'), api('/v1/policies'), api('/v1/restores')]);
  let html = '<h2>Running backups</h2><table id="running-backups"><tr><th>Backup</th><th>Instance</th><th>Type</th><th>State</th><th>Started</th><th>Progress</th></tr>';
  if (sessions.sessions.length === 0) html += '<tr><td colspan="6" class="muted">No backup is running.</td></tr>';
  for (const s of sessions.sessions) {
    const total = s.databases.reduce((n, d) => n + (d.changedPagesSize ?? d.imageSize ?? 0), 0);
    const done = s.bytesSent || 0;
    const bar = total > 0 ? `<progress value="${Math.min(done, total)}" max="${total}"></progress> ` : '';
    html += `<tr data-backup="${esc(s.id)}"><td class="id">${esc(s.id)}</td><td>${esc(s.instance)}</td><td>${esc(s.type)}</td><td>${state(s.state)}</td><td>${when(s.started)}</td>`
      + `<td class="progress">${bar}<span class="sent" data-bytes="${done}">${mib(done)}</span>${total > 0 ? ` of ${mib(total)} + logs` : ''}</td></tr>`;
  }
  html += '</table><h2>Running restores</h2><table id="running-restores"><tr><th>Restore</th><th>Instance</th><th>Mode</th><th>State</th><th>Started</th><th>Progress</th></tr>';
  if (restores.sessions.length === 0) html += '<tr><td colspan="6" class="muted">No restore is running.</td></tr>';
  for (const r of restores.sessions) {
    html += `<tr data-restore="${esc(r.id)}"><td class="id">${esc(r.id)}</td><td>${esc(r.instance)}</td><td>${esc(r.mode)}</td><td>${state(r.state)}</td><td>${when(r.started)}</td>`
      + `<td>${mib(r.bytesWritten)} written, ${r.filesWritten} file(s)${r.phase ? ` <span class="muted">${esc(r.phase)}</span>` : ''}</td></tr>`;
  }
  html += '</table><h2>Policy jobs running</h2><table id="running-jobs"><tr><th>Policy</th><th>Job</th><th>Kind</th><th>Trigger</th><th>Started</th><th>Sent</th></tr>';
  const jobs = list.policies.flatMap((p) => [p.running, p.proving].filter(Boolean));
  if (jobs.length === 0) html += '<tr><td colspan="6" class="muted">No policy job is running.</td></tr>';
  for (const j of jobs) html += `<tr><td>${esc(j.policy)}</td><td class="id">${esc(j.id)}</td><td>${esc(j.kind)}</td><td>${esc(j.trigger)}</td><td>${ago(j.started)}</td><td>${mib(j.progressBytes)}</td></tr>`;
  return html + '</table>';
}

async function sets() {
  const list = await api('/v1/policies');
  if (list.policies.length === 0) return '<h2>Sets</h2><p class="muted">No policy is defined, so the server knows no repository. Add one to the config (docs/console.md).</p>';
  let html = '';
  for (const p of list.policies) {
    html += `<h2>${esc(p.definition.repository.location)} <span class="muted">(policy ${esc(p.definition.name)}, instance ${esc(p.definition.instance)}${p.setsListed ? `, listed ${ago(p.setsListed)}` : ''})</span></h2>`;
    html += `<table class="sets" data-policy="${esc(p.definition.name)}"><tr><th>Set</th><th>Type</th><th>Parent</th><th>Ended</th><th>Generations</th><th>Size</th><th>Stored</th><th>Verified</th><th>Proof</th></tr>`;
    if (p.sets.length === 0) html += '<tr><td colspan="9" class="muted">No set yet.</td></tr>';
    for (const s of [...p.sets].sort((a, b) => (b.ended || '').localeCompare(a.ended || ''))) {
      const proof = s.proved == null ? '<span class="muted">not yet</span>' : `${state(s.proved)} ${ago(s.provedAt)}${s.digestMatch === true ? ' <span class="muted">digest match</span>' : s.digestMatch === false ? ' <span class="bad">digest differs</span>' : ''}`;
      html += `<tr data-set="${esc(s.id)}" data-proof="${s.proved == null ? 'none' : s.proved ? 'ok' : 'failed'}"><td class="id">${esc(s.id)}</td><td>${esc(s.type)}</td><td class="id">${esc(s.parent ? s.parent.slice(0, 8) : '–')}</td>`
        + `<td>${when(s.ended)}</td><td class="num">${s.genLow}–${s.genHigh}</td><td class="num">${mib(s.size)}</td><td class="num">${mib(s.stored)}</td><td>${s.verified == null ? '<span class="muted">never</span>' : state(s.verified)}</td><td class="proof">${proof}</td></tr>`;
    }
    html += '</table>';
  }
  return html;
}

async function policies() {
  const list = await api('/v1/policies');
  if (list.policies.length === 0) return '<h2>Policies</h2><p class="muted">No policy is defined. Add one under "policies" in the server\'s config (docs/console.md), or PUT /v1/policies/NAME.</p>';
  let html = '<h2>Policies</h2><table id="policies"><tr><th>Policy</th><th>Instance</th><th>Schedule</th><th>Next</th><th>Last</th><th>Now</th><th></th></tr>';
  for (const p of list.policies) {
    const d = p.definition;
    const sched = ['full', 'incremental', 'differential'].filter((k) => d[k]).map((k) => `${k} every ${esc(d[k])}`).join('<br>') + (d.changedPages ? '<br><span class="muted">changed pages</span>' : '') + (d.shipping ? '<br>shipping' : '');
    const next = Object.entries(p.next).map(([k, t]) => `${esc(k)} ${ago(t)}`).join('<br>');
    const last = Object.values(p.last).sort((a, b) => (b.ended || '').localeCompare(a.ended || '')).slice(0, 3).map((j) => `${esc(j.kind)} ${state(j.state)} ${ago(j.ended)}`).join('<br>');
    const now = [p.running, p.proving].filter(Boolean).map((j) => `${esc(j.kind)} <span class="id">${esc(j.id)}</span>`).join('<br>') || '<span class="muted">idle</span>';
    html += `<tr data-policy="${esc(d.name)}"><td>${esc(d.name)}${p.consecutiveFailures ? ` <span class="bad">${p.consecutiveFailures} failed</span>` : ''}</td><td>${esc(d.instance)}</td><td>${sched}</td><td>${next}</td><td>${last}</td><td>${now}${p.shipper ? `<br><span class="muted">shipper ${esc(p.shipper)}</span>` : ''}</td>`
      + `<td><button class="act" data-run="${esc(d.name)}" data-kind="full">Full now</button><button class="act" data-run="${esc(d.name)}" data-kind="prove">Prove newest</button></td></tr>`;
  }
  html += '</table>';
  for (const p of list.policies) {
    const h = await api(`/v1/policies/${encodeURIComponent(p.definition.name)}/history?limit=20`);
    html += `<h2>History of ${esc(p.definition.name)}</h2><table class="history"><tr><th>Job</th><th>Kind</th><th>Trigger</th><th>Outcome</th><th>Started</th><th>Duration</th><th>Set</th><th>Size</th><th>Rate</th><th>Error</th></tr>`;
    if (h.jobs.length === 0) html += '<tr><td colspan="10" class="muted">No job has run yet.</td></tr>';
    for (const j of h.jobs) {
      html += `<tr><td class="id">${esc(j.id)}</td><td>${esc(j.kind)}</td><td>${esc(j.trigger)}</td><td>${state(j.state)}</td><td>${when(j.started)}</td><td class="num">${j.seconds != null ? j.seconds.toFixed(1) + ' s' : ''}</td>`
        + `<td class="id">${esc((j.set || '').slice(0, 8))}</td><td class="num">${mib(j.bytes)}</td><td class="num">${j.rateMBps != null ? j.rateMBps + ' MB/s' : ''}</td><td class="error">${esc(j.error)}</td></tr>`;
    }
    html += '</table>';
  }
  return html;
}

async function alerts() {
  const list = await api('/v1/alerts');
  if (list.alerts.length === 0) return '<h2>Alerts</h2><p class="ok" id="no-alerts">Nothing needs attention.</p>';
  return '<h2>Alerts</h2>' + list.alerts.map((a) => `<div class="alert ${esc(a.severity)}"><strong>${esc(a.subject)}</strong> <span class="muted">${esc(a.severity)}${a.since ? ', since ' + when(a.since) : ''}</span><br>${esc(a.message)}</div>`).join('');
}

document.addEventListener('click', async (e) => {
  const b = e.target.closest('button[data-run]');
  if (!b) return;
  try {
    const job = await api(`/v1/policies/${encodeURIComponent(b.dataset.run)}/run?kind=${b.dataset.kind}`, { method: 'POST' });
    $('#error').textContent = `Started ${job.kind} job ${job.id}.`;
  } catch (err) {
    $('#error').textContent = err.message;
  }
});
$('#signin').addEventListener('submit', (e) => { e.preventDefault(); signIn($('#token').value); });
$('#signout').addEventListener('click', () => showSignIn('Signed out.'));
window.addEventListener('hashchange', () => { if (sessionStorage.getItem(TOKEN)) route(); });
if (sessionStorage.getItem(TOKEN)) signIn(sessionStorage.getItem(TOKEN)); else showSignIn();
