// Kommungraf policy editor. Plain JavaScript without dependencies: it reads
// and changes the policy only through the REST API under /admin/api/, which
// the session cookie authenticates. Every value from the API is put into the
// page as text, never as markup.
'use strict';

const LEVELS = ['Försumbar', 'Måttlig', 'Betydande', 'Allvarlig'];
const state = { policy: null, catalog: null, baseVersion: null, loadedText: null };

// ---------- small helpers ----------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const $ = (id) => document.getElementById(id);

function when(s) {
  if (!s) return '';
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? String(s) : d.toLocaleString('sv-SE');
}

function status(msg) {
  $('status').textContent = msg;
}

function showError(msg) {
  const e = $('error');
  e.textContent = msg;
  e.hidden = !msg;
}

// api calls the policy API; it resolves to {ok, status, data} and sends the
// anti-CSRF header with every state-changing request.
async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const opts = { method, headers, credentials: 'same-origin' };
  if (method !== 'GET') headers['X-Kommungraf-CSRF'] = '1';
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, opts);
  } catch (err) {
    return { ok: false, status: 0, data: { detail: `the gateway did not answer (${err.message})` } };
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { detail: text.slice(0, 300) }; }
  }
  if (res.status === 401) {
    // The session's token has expired or was revoked: sign in again.
    location.assign('/admin');
  }
  return { ok: res.ok, status: res.status, data };
}

function problem(r) {
  const d = r.data || {};
  const code = d.code ? `${d.code}: ` : '';
  return code + (d.detail || d.title || `HTTP ${r.status}`);
}

// parseLine splits one policy line as Casbin's CSV reader does: commas
// separate columns, double quotes protect commas inside one.
function parseLine(line) {
  const out = [];
  let i = 0;
  const n = line.length;
  for (;;) {
    while (i < n && line[i] === ' ') i++;
    let v = '';
    if (line[i] === '"') {
      i++;
      while (i < n) {
        if (line[i] === '"') {
          if (line[i + 1] === '"') { v += '"'; i += 2; continue; }
          i++;
          break;
        }
        v += line[i++];
      }
      while (i < n && line[i] !== ',') i++;
    } else {
      while (i < n && line[i] !== ',') v += line[i++];
      v = v.trim();
    }
    out.push(v);
    if (i >= n) return out;
    i++; // the comma
  }
}

function formatCol(c) {
  return /[,"]/.test(c) ? `"${c.replaceAll('"', '""')}"` : c;
}

function levelBadge(level) {
  const n = Number(level);
  const name = LEVELS[n] !== undefined ? `${n} ${LEVELS[n]}` : String(level);
  return el('span', { class: `level l${n}`, text: name });
}

function decisionText(v) {
  if (v === true) return 'allowed';
  if (v === false) return 'denied';
  return String(v);
}

function decisionBadge(v) {
  const t = decisionText(v);
  return el('span', { class: /^(allow|allowed|true)$/i.test(t) ? 'badge allow' : 'badge deny', text: t });
}

function diffBlock(diff) {
  let lines;
  if (diff === undefined || diff === null || diff === '') return el('p', { class: 'muted', text: 'No changes.' });
  if (typeof diff === 'string') lines = diff.replace(/\n$/, '').split('\n');
  else if (Array.isArray(diff)) lines = diff.map((d) => (typeof d === 'string' ? d : JSON.stringify(d)));
  else lines = JSON.stringify(diff, null, 2).split('\n');
  const pre = el('pre', { class: 'diff' });
  for (const l of lines) {
    const cls = l.startsWith('@@') ? 'hunk' : l.startsWith('+') ? 'add' : l.startsWith('-') ? 'del' : '';
    pre.append(el('span', { class: cls, text: l }), '\n');
  }
  return pre;
}

// ---------- views ----------

const VIEWS = ['policy', 'catalog', 'editor', 'proposals', 'versions', 'audit'];
const LOADERS = {
  policy: loadPolicy, catalog: loadCatalog, editor: loadPolicy,
  proposals: loadProposals, versions: loadVersions, audit: loadAudit,
};

function currentView() {
  return VIEWS.includes(location.hash.slice(1)) ? location.hash.slice(1) : 'policy';
}

function showView() {
  const name = currentView();
  for (const v of VIEWS) $(v).hidden = v !== name;
  for (const a of document.querySelectorAll('nav.tabs a')) {
    if (a.getAttribute('href') === `#${name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  LOADERS[name]();
}

// ---------- policy ----------

async function loadPolicy() {
  const r = await api('GET', '/admin/api/policy');
  if (!r.ok) { showError(`Could not load the policy: ${problem(r)}`); return; }
  const p = r.data;
  state.policy = p;
  $('policy-version').textContent = p.version;
  $('approval-note').textContent = p.requireApproval
    ? 'Changes need the approval of a second security officer before they take effect.'
    : 'Changes take effect when proposed (approval by a second officer is not required on this gateway).';
  $('editor-approval').textContent = p.requireApproval ? ' and approved by a second security officer' : '';
  const text = $('policy-text');
  // Keep an edit in progress; it still names the version it started from,
  // so proposing it after someone else's change is refused as stale.
  if (state.loadedText === null || text.value === state.loadedText) {
    text.value = p.text;
    state.loadedText = p.text;
    state.baseVersion = p.version;
  }
  $('editor-base').textContent = state.baseVersion;
  renderPolicyTable(p.text);
}

function renderPolicyTable(text) {
  const body = $('policy-table').tBodies[0];
  body.replaceChildren();
  let comments = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') { comments = []; return; }
    if (line.startsWith('#')) { comments.push(line.replace(/^#\s?/, '')); return; }
    if (comments.length) {
      body.append(el('tr', { class: 'group' }, el('th', { colspan: 8, scope: 'rowgroup', text: comments.join(' ') })));
      comments = [];
    }
    const c = parseLine(line);
    if (c[0] !== 'p') return;
    const [, sub, obj, act, purpose, level, eft] = c;
    body.append(el('tr', { 'data-line': i + 1 },
      el('td', { class: 'num', text: i + 1 }),
      el('td', {}, el('code', { text: sub })),
      el('td', {}, el('code', { text: obj })),
      el('td', { text: act }),
      el('td', { text: purpose }),
      el('td', {}, /^\d$/.test(level) ? levelBadge(level) : level),
      el('td', {}, el('span', { class: eft === 'deny' ? 'badge deny' : 'badge allow', text: eft })),
      el('td', {}, el('button', {
        type: 'button', class: 'link remove-line', 'aria-label': `Remove line ${i + 1} in the editor`,
        onclick: () => removeLine(line), text: 'Remove',
      })),
    ));
  });
}

function removeLine(line) {
  const ta = $('policy-text');
  const lines = ta.value.split('\n');
  const i = lines.findIndex((l) => l.trim() === line);
  if (i < 0) {
    status('That line is no longer in the editor text.');
  } else {
    lines.splice(i, 1);
    ta.value = lines.join('\n');
    status(`Removed "${line}" from the editor text. Run a dry run to see what changes.`);
  }
  location.hash = '#editor';
}

// ---------- catalog ----------

async function loadCatalog() {
  const r = await api('GET', '/admin/api/catalog');
  if (!r.ok) { showError(`Could not load the field catalog: ${problem(r)}`); return; }
  state.catalog = r.data;
  const fields = r.data.fields || [];
  fillSelect($('cat-type'), [...new Set(fields.map((f) => f.type))].sort(), 'All types');
  const who = new Set();
  for (const f of fields) for (const a of f.access || []) if (a.allowed) who.add(a.role);
  fillSelect($('cat-role'), [...who].sort(), 'Anyone or no one');
  renderCatalog();
  renderContracts(r.data.contracts || []);
}

function fillSelect(sel, values, allLabel) {
  const keep = sel.value;
  sel.replaceChildren(el('option', { value: '', text: allLabel }), ...values.map((v) => el('option', { value: v, text: v })));
  if (values.includes(keep)) sel.value = keep;
}

function accessLabel(a) {
  return `${a.role} via ${a.client}`;
}

function renderCatalog() {
  if (!state.catalog) return;
  const q = $('cat-search').value.trim().toLowerCase();
  const type = $('cat-type').value;
  const level = $('cat-level').value;
  const kind = $('cat-kind').value;
  const role = $('cat-role').value;
  const all = state.catalog.fields || [];
  const rows = all.filter((f) => {
    const allowed = (f.access || []).filter((a) => a.allowed);
    if (type && f.type !== type) return false;
    if (level !== '' && String(f.level) !== level) return false;
    if (kind === 'personal' && !f.personal) return false;
    if (kind === 'health' && !f.health) return false;
    if (kind === 'none' && (f.personal || f.health)) return false;
    if (role && !allowed.some((a) => a.role === role)) return false;
    if (q) {
      const hay = [f.key, f.owner, f.description, ...allowed.map(accessLabel)].join(' ').toLowerCase();
      if (!hay.includes(q)) return false;
    }
    return true;
  });
  const body = $('catalog-table').tBodies[0];
  body.replaceChildren(...rows.map((f) => {
    const allowed = (f.access || []).filter((a) => a.allowed);
    const markers = [];
    if (f.health) markers.push(el('span', { class: 'badge health', text: 'health data' }));
    if (f.personal) markers.push(el('span', { class: 'badge personal', text: 'personal data' }));
    const who = allowed.length
      ? el('ul', { class: 'access' }, allowed.map((a) => el('li', {},
        el('span', { text: accessLabel(a) }),
        a.protectedAllowed ? el('span', { class: 'badge protected', title: 'also for persons with protected identity', text: 'incl. protected' }) : null)))
      : el('span', { class: 'muted', text: 'no one' });
    return el('tr', { 'data-key': f.key },
      el('th', { scope: 'row' }, el('code', { text: f.key })),
      el('td', {}, levelBadge(f.level)),
      el('td', { text: f.owner || '' }),
      el('td', {}, markers),
      el('td', { class: 'desc' }, f.description || '',
        Array.isArray(f.rules) && f.rules.length ? el('details', { class: 'rules' },
          el('summary', { text: `${f.rules.length} policy line${f.rules.length === 1 ? '' : 's'} name it` }),
          el('ul', { class: 'globs' }, f.rules.map((l) => el('li', {}, el('code', { text: l }))))) : null,
        Array.isArray(f.rows) && f.rows.length ? el('p', { class: 'small rows' }, 'Rows carry a purpose: ',
          f.rows.map((r, i) => el('span', { title: `p, ${r.subject}, ${r.object}, row, ${r.purpose}, 0, ${r.effect}` },
            i ? ', ' : '', el('code', { text: r.value }), ` ${r.effect === 'deny' ? '✗' : '→'} ${r.purpose}`)),
          '; any other value: no one.') : null),
      el('td', {}, who,
        Array.isArray(f.clients) ? el('p', { class: 'small muted' }, 'Contracts: ', f.clients.length ? f.clients.join(', ') : 'none') : null));
  }));
  $('catalog-count').textContent = `${rows.length} of ${all.length} fields`;
}

function renderContracts(contracts) {
  $('contracts-table').tBodies[0].replaceChildren(...contracts.map((c) => el('tr', {},
    el('th', { scope: 'row' }, el('code', { text: c.client })),
    el('td', { text: c.name }),
    el('td', { text: c.owner }),
    el('td', { text: (c.purposes || []).join(', ') }),
    el('td', {}, levelBadge(c.ceiling)),
    el('td', { text: c.availability }),
    el('td', {}, el('ul', { class: 'globs' }, (c.fields || []).map((g) => el('li', {}, el('code', { text: g }))))))));
}

// ---------- editor, dry run, propose ----------

function showProblems(r, what) {
  const box = $('editor-problems');
  const d = r.data || {};
  box.replaceChildren(el('p', {}, el('strong', { text: `${what} refused: ` }), problem(r)));
  if (Array.isArray(d.lines) && d.lines.length) {
    box.append(el('ul', { class: 'lines' }, d.lines.map((l) => el('li', {},
      el('strong', { text: `Line ${l.line}: ` }), l.message || '',
      l.text ? el('code', { text: l.text }) : null))));
  }
  const rails = d.guardRails || d.rails || [];
  if (Array.isArray(rails) && rails.length) {
    box.append(el('ul', { class: 'lines' }, rails.map((g) => el('li', {}, el('code', { text: g.code || g.name || '' }), ' ', g.detail || ''))));
  }
  if (r.status === 409) {
    box.append(el('p', {},
      `Someone changed the live policy since you started from version ${state.baseVersion}. `,
      el('button', { type: 'button', class: 'secondary', onclick: resetEditor, text: 'Load the live policy' }),
      ' and make your change again.'));
  }
  box.hidden = false;
}

function clearProblems() {
  $('editor-problems').hidden = true;
  $('editor-problems').replaceChildren();
}

async function dryRun() {
  clearProblems();
  $('dry-run-result').hidden = true;
  status('Running the dry run…');
  const r = await api('POST', '/admin/api/dry-run', { text: $('policy-text').value });
  if (!r.ok) { status(''); showProblems(r, 'Dry run'); return; }
  const changes = r.data.changes || [];
  const recent = r.data.recent || { examined: 0, changed: 0 };
  const since = recent.since ? ` since ${when(recent.since)}` : '';
  $('dry-run-summary').textContent = `${changes.length} decision${changes.length === 1 ? '' : 's'} would change. ` + (recent.unavailable
    ? 'The access log could not be read, so the effect on recent requests is unknown.'
    : `Of the ${recent.examined} recent requests in the access log${since}, ${recent.changed} would have been answered differently.`);
  $('dry-run-table').tBodies[0].replaceChildren(...changes.map((c) => el('tr', {},
    el('td', { text: c.role }), el('td', { text: c.client }),
    el('td', {}, el('code', { text: c.field }), c.action && c.action !== 'read' ? ` (${c.action})` : null),
    el('td', { text: c.protected ? 'yes' : 'no' }),
    el('td', {}, decisionBadge(c.before)), el('td', {}, decisionBadge(c.after)),
    el('td', { class: 'desc', title: c.rule || null, text: c.reason || '' }))));
  const rails = r.data.guardRails || [];
  const railBox = $('dry-run-rails');
  railBox.replaceChildren(...(rails.length ? [el('p', {}, el('strong', { text: 'A proposal of this text would be refused by the guard rails:' })),
    el('ul', {}, rails.map((g) => el('li', {}, el('code', { text: g.code || g.name || '' }), ' ', g.detail || '')))] : []));
  railBox.hidden = !rails.length;
  $('dry-run-result').hidden = false;
  status('Dry run done.');
}

async function propose() {
  clearProblems();
  const comment = $('propose-comment').value.trim();
  if (!comment) {
    showProblems({ status: 400, data: { detail: 'say why in the comment; reviewers and the audit trail need it' } }, 'Proposal');
    $('propose-comment').focus();
    return;
  }
  const r = await api('POST', '/admin/api/proposals', { baseVersion: state.baseVersion, text: $('policy-text').value, comment });
  if (!r.ok) { showProblems(r, 'Proposal'); return; }
  $('propose-comment').value = '';
  reportProposal(r.data, $('propose-result'));
  state.loadedText = null; // follow the live policy again
  await refreshAll();
}

function reportProposal(d, where) {
  const p = d.proposal || {};
  const msg = d.applied
    ? `Applied: the live policy is now version ${d.version}.`
    : `Proposal #${p.id} is waiting for a second security officer's approval.`;
  where.replaceChildren(el('p', { class: 'ok', text: msg }));
  status(msg);
}

function resetEditor() {
  state.loadedText = null;
  clearProblems();
  loadPolicy();
}

function addLine(ev) {
  ev.preventDefault();
  const cols = ['add-sub', 'add-obj', 'add-act', 'add-purpose', 'add-level', 'add-eft'].map((id) => $(id).value.trim());
  const line = `p, ${cols.map(formatCol).join(', ')}`;
  const ta = $('policy-text');
  ta.value = ta.value.replace(/\n*$/, '\n') + line + '\n';
  status(`Added "${line}" to the editor text.`);
}

// ---------- proposals ----------

async function loadProposals() {
  const r = await api('GET', '/admin/api/proposals?status=proposed');
  const list = $('proposals-list');
  if (!r.ok) { showError(`Could not load the proposals: ${problem(r)}`); return; }
  const ps = r.data.proposals || [];
  $('pending-count').textContent = ps.length ? `(${ps.length})` : '';
  if (!ps.length) { list.replaceChildren(el('p', { class: 'muted', text: 'No proposal is waiting.' })); return; }
  list.replaceChildren(...ps.map((p) => {
    const result = el('div', { role: 'status' });
    const reason = el('input', { id: `reject-reason-${p.id}`, size: 40, placeholder: 'Why it is rejected' });
    return el('article', { class: 'card proposal', 'data-id': p.id, 'aria-labelledby': `proposal-${p.id}` },
      el('h3', { id: `proposal-${p.id}`, text: `Proposal #${p.id}` }),
      el('p', { class: 'meta' }, `by ${p.author} · ${when(p.createdAt)} · from version ${p.baseVersion} · ${p.status}`),
      el('p', { class: 'comment', text: p.comment || '(no comment)' }),
      diffBlock(p.diff),
      el('div', { class: 'actions' },
        el('button', { type: 'button', class: 'approve', onclick: () => decide(p, 'approve', null, result), text: `Approve #${p.id}` }),
        el('label', { for: `reject-reason-${p.id}`, text: 'Reason' }), reason,
        el('button', { type: 'button', class: 'danger reject', onclick: () => decide(p, 'reject', reason.value, result), text: `Reject #${p.id}` })),
      result);
  }));
}

async function decide(p, what, reason, where) {
  const body = what === 'reject' ? { reason: reason || '' } : undefined;
  const r = await api('POST', `/admin/api/proposals/${encodeURIComponent(p.id)}/${what}`, body);
  if (!r.ok) {
    where.replaceChildren(el('p', { class: 'error', role: 'alert', text: `${what === 'approve' ? 'Approval' : 'Rejection'} refused: ${problem(r)}` }));
    return;
  }
  const msg = what === 'approve' ? `Approved #${p.id}: the live policy is now version ${r.data.version}.` : `Rejected #${p.id}.`;
  status(msg);
  await refreshAll();
  $('proposals-list').prepend(el('p', { class: 'ok', text: msg }));
}

// ---------- versions ----------

async function loadVersions() {
  const r = await api('GET', '/admin/api/versions');
  if (!r.ok) { showError(`Could not load the versions: ${problem(r)}`); return; }
  const vs = [...(r.data.versions || [])].sort((a, b) => b.version - a.version);
  const live = state.policy ? state.policy.version : vs.length ? vs[0].version : null;
  $('versions-list').replaceChildren(...vs.map((v) => {
    const result = el('div', { role: 'status' });
    const comment = el('input', { id: `restore-comment-${v.version}`, size: 40, value: `Restore version ${v.version}` });
    return el('article', { class: 'card version', 'data-version': v.version, 'aria-labelledby': `version-${v.version}` },
      el('h3', { id: `version-${v.version}` }, `Version ${v.version} `, v.version === live ? el('span', { class: 'badge allow', text: 'live' }) : null),
      el('p', { class: 'meta', text: `by ${v.author}${v.approvedBy ? `, approved by ${v.approvedBy}` : ''} · ${when(v.createdAt)}` }),
      el('p', { class: 'comment', text: v.comment || '(no comment)' }),
      el('details', {}, el('summary', { text: 'Diff to the version before' }), diffBlock(v.diff)),
      v.version === live ? null : el('div', { class: 'actions' },
        el('label', { for: `restore-comment-${v.version}`, text: 'Comment' }), comment,
        el('button', { type: 'button', class: 'restore', onclick: () => restore(v.version, comment.value, result), text: `Restore version ${v.version}` })),
      result);
  }));
}

async function restore(version, comment, where) {
  const r = await api('POST', `/admin/api/versions/${version}/restore`, { comment });
  if (!r.ok) {
    where.replaceChildren(el('p', { class: 'error', role: 'alert', text: `Restore refused: ${problem(r)}` }));
    return;
  }
  await refreshAll();
  const box = document.querySelector(`article.version[data-version="${version}"] [role=status]`) || where;
  reportProposal(r.data, box);
}

// ---------- audit ----------

async function loadAudit() {
  const r = await api('GET', '/admin/api/audit');
  if (!r.ok) { showError(`Could not load the audit trail: ${problem(r)}`); return; }
  // Newest first: the append-only audit numbers its events in order.
  const es = [...(r.data.events || [])].sort((a, b) => (b.id || 0) - (a.id || 0) || new Date(b.at) - new Date(a.at));
  $('audit-table').tBodies[0].replaceChildren(...es.map((e) => el('tr', {},
    el('td', { text: when(e.at) }), el('td', { text: e.actor }), el('td', { text: e.action }),
    el('td', { text: e.proposal ? `#${e.proposal}` : '' }), el('td', { text: e.version || '' }),
    el('td', {}, e.comment || '', e.detail ? el('div', { class: 'small muted', text: e.detail }) : null))));
}

// ---------- start ----------

async function refreshAll() {
  showError('');
  await loadPolicy();
  await Promise.all([loadCatalog(), loadProposals(), loadVersions(), loadAudit()]);
}

function start() {
  for (const id of ['cat-search', 'cat-type', 'cat-level', 'cat-kind', 'cat-role']) {
    $(id).addEventListener('input', renderCatalog);
  }
  $('catalog-filters').addEventListener('submit', (ev) => ev.preventDefault());
  $('dry-run').addEventListener('click', dryRun);
  $('propose').addEventListener('click', propose);
  $('editor-reset').addEventListener('click', resetEditor);
  $('add-line').addEventListener('submit', addLine);
  $('sign-out').addEventListener('click', async () => {
    await fetch('/admin/session/logout', { method: 'POST', headers: { 'X-Kommungraf-CSRF': '1' } });
    location.assign('/admin');
  });
  window.addEventListener('hashchange', showView);
  loadProposals(); // the pending count in the navigation
  if (!['policy', 'editor'].includes(currentView())) loadPolicy();
  showView();
}

start();
