// Kommungraf policy editor. Plain JavaScript without dependencies: it reads
// and changes the policy only through the REST API under /admin/api/, which
// the session cookie authenticates. Every value from the API is put into the
// page as text, never as markup.
'use strict';

const LEVELS = ['Försumbar', 'Måttlig', 'Betydande', 'Allvarlig'];
// Every time on the page is shown in the municipality's zone, whatever the
// browser's own zone is, with the zone's name: 2026-12-06 15:20:29 CET.
const TIME_ZONE = 'Europe/Stockholm';
const COLUMNS = ['subject', 'object', 'action', 'purpose', 'level', 'effect'];
const COLUMN_LABELS = { subject: 'Who', object: 'Which fields', action: 'Action', purpose: 'Purpose', level: 'Level', effect: 'Effect' };
// edits maps a live policy line to what the table's in-place editor made of
// it in the editor text (null: removed).
const state = { policy: null, catalog: null, baseVersion: null, loadedText: null, edits: new Map() };

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

// TIME_FORMAT spells every part out: with timeZoneName alone, sv-SE writes
// an hour before ten with one digit (2026-12-07 1:15:21 CET).
const TIME_FORMAT = new Intl.DateTimeFormat('sv-SE', {
  timeZone: TIME_ZONE, timeZoneName: 'short', hourCycle: 'h23',
  year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
});

function when(s) {
  if (!s) return '';
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? String(s) : TIME_FORMAT.format(d);
}

// whenEl is a time as a <time> element: Swedish time shown, the API's
// RFC 3339 value kept in datetime.
function whenEl(s) {
  return s ? el('time', { datetime: s, text: when(s) }) : '';
}

function status(msg) {
  $('status').textContent = msg;
}

function showError(msg) {
  const e = $('error');
  e.textContent = msg;
  e.hidden = !msg;
}

// startAction clears what the last action said, so an old result is never
// read as the answer to a new one.
function startAction() {
  status('');
  showError('');
  clearProblems();
  $('propose-result').replaceChildren();
  for (const e of document.querySelectorAll('#policy-table tr.line-saved')) e.remove();
}

// confirmApply asks, in a modal dialog, before a change goes live without a
// second officer's approval; it resolves to true only for "Apply now".
function confirmApply(text) {
  const dlg = $('confirm-dialog');
  $('confirm-text').textContent = text;
  return new Promise((resolve) => {
    dlg.returnValue = '';
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'confirm'), { once: true });
    dlg.showModal();
  });
}

// appliesAtOnce: this gateway applies a change without approval.
function appliesAtOnce() {
  return state.policy !== null && !state.policy.requireApproval;
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

// The access log view exists only for principals who may search the log.
const VIEWS = ['policy', 'catalog', 'integrations', 'editor', 'proposals', 'versions', 'audit']
  .concat(document.getElementById('accesslog') ? ['accesslog'] : []);
const LOADERS = {
  policy: loadPolicy, catalog: loadCatalog, integrations: loadIntegrations, editor: () => Promise.all([loadPolicy(), ensureCatalog()]), // the add form's choices
  proposals: loadProposals, versions: loadVersions, audit: loadAudit, accesslog: ensureCatalog,
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

// ---------- integration catalog ----------

function levelRange(l) {
  return l ? (l.min === l.max ? String(l.min) : `${l.min}–${l.max}`) : '–';
}

function readsList(reads) {
  if (!reads || reads.length === 0) return '–';
  return el('ul', { class: 'plain' }, reads.map((r) => el('li', { 'data-client': r.client }, `${r.client}: ${r.reads}`)));
}

async function loadIntegrations() {
  const r = await api('GET', '/admin/api/integrations');
  if (!r.ok) { showError(`Could not load the integration catalog: ${problem(r)}`); return; }
  const c = r.data;
  $('int-window').textContent = `Reads and measured availability cover ${c.window}.`;
  const t = c.totals;
  $('int-totals').textContent = `${t.systems} systems with ${t.resources} resources; ${t.clients} client applications, ` +
    `${t.clientsWithContract} with a contract; ${t.openApis} open APIs; ${t.reads} reads in the window.`;
  const sys = $('systems-table').tBodies[0];
  const res = $('resources-table').tBodies[0];
  sys.replaceChildren();
  res.replaceChildren();
  for (const s of c.systems) {
    const a = s.availability;
    const measured = a.calls ? `${a.measured} (${a.ok} of ${a.calls} calls)` : '– (no calls)';
    sys.append(el('tr', { 'data-system': s.name },
      el('th', { scope: 'row' }, s.name, el('br'), el('span', { class: 'muted small', text: s.title })),
      el('td', { text: s.kind }), el('td', { text: s.owner }), el('td', { class: 'levels', text: levelRange(s.levels) }),
      el('td', { text: s.contracts.join(', ') || '–' }),
      el('td', { class: 'reads' }, readsList(s.reads)),
      el('td', { class: 'promised', text: a.promised || '–' }),
      el('td', { class: a.met === false ? 'measured error' : 'measured', text: measured + (a.met === false ? ' · below the promise' : '') }),
      el('td', { class: 'open-apis', text: s.openApis.join(', ') || '–' })));
    for (const x of s.resources) {
      res.append(el('tr', { 'data-resource': `${s.name}.${x.name}` },
        el('th', { scope: 'row', text: `${s.name}.${x.name}` }), el('td', { text: x.fields }),
        el('td', { text: levelRange(x.levels) }), el('td', { class: 'reads' }, readsList(x.reads)),
        el('td', { class: 'total', text: x.totalReads })));
    }
  }
  const cl = $('clients-table').tBodies[0];
  cl.replaceChildren();
  for (const x of c.clients) {
    cl.append(el('tr', { 'data-client': x.client },
      el('th', { scope: 'row', text: x.client }),
      el('td', { class: x.contract ? '' : 'error', text: x.contract ? x.name : 'no contract' }),
      el('td', { text: x.owner || '–' }), el('td', { text: x.purposes.join(', ') || '–' }),
      el('td', { text: x.ceiling === null || x.ceiling === undefined ? '–' : `${x.ceiling} ${LEVELS[x.ceiling]}` }),
      el('td', { class: 'reads', text: x.reads }), el('td', { class: 'systems', text: x.systems.join(', ') || '–' }),
      el('td', { class: 'fields' }, x.fieldsRead.length === 0 ? '–'
        : el('details', {}, el('summary', { text: `${x.fieldsRead.length} fields` }), el('code', { text: x.fieldsRead.join(' ') })))));
  }
  status('Integration catalog loaded.');
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
    state.edits.clear();
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
    if (parseLine(line)[0] !== 'p') return;
    body.append(policyRow(line, i + 1));
  });
}

// policyRow is one line of the live policy, as the editor text has it now.
function policyRow(live, num) {
  const edited = state.edits.has(live);
  const current = edited ? state.edits.get(live) : live;
  const tr = el('tr', { 'data-line': num, class: edited ? 'edited' : null });
  const actions = el('td', { class: 'row-actions' },
    edited ? el('span', { class: 'badge protected', title: `live: ${live}`, text: current === null ? 'removed in the editor' : 'changed in the editor' }) : null,
    current === null ? null : el('button', {
      type: 'button', class: 'link edit-line', 'aria-label': `Edit line ${num} in place`,
      onclick: () => editRow(live, num), text: 'Edit',
    }),
    current === null ? null : el('button', {
      type: 'button', class: 'link remove-line', 'aria-label': `Remove line ${num} in the editor`,
      onclick: () => removeLine(live), text: 'Remove',
    }));
  if (current === null) {
    tr.append(el('td', { class: 'num', text: num }), el('td', { colspan: 6 }, el('del', {}, el('code', { text: live }))), actions);
    return tr;
  }
  const [, sub, obj, act, purpose, level, eft] = parseLine(current);
  tr.append(
    el('td', { class: 'num', text: num }),
    el('td', {}, el('code', { text: sub })),
    el('td', {}, el('code', { text: obj })),
    el('td', { text: act }),
    el('td', { text: purpose }),
    el('td', {}, /^\d$/.test(level) ? levelBadge(level) : level),
    el('td', {}, el('span', { class: eft === 'deny' ? 'badge deny' : 'badge allow', text: eft })),
    actions);
  return tr;
}

// editorLineIndex finds a line in the editor text.
function editorLineIndex(lines, line) {
  return lines.findIndex((l) => l.trim() === line);
}

function removeLine(line) {
  startAction();
  const ta = $('policy-text');
  const current = state.edits.has(line) ? state.edits.get(line) : line;
  const lines = ta.value.split('\n');
  const i = current === null ? -1 : editorLineIndex(lines, current);
  if (i < 0) {
    status('That line is no longer in the editor text.');
  } else {
    lines.splice(i, 1);
    ta.value = lines.join('\n');
    state.edits.set(line, null);
    status(`Removed "${current}" from the editor text. Run a dry run to see what changes.`);
  }
  location.hash = '#editor';
}

// editRow turns a row of the policy table into fields: the columns with
// choices drawn from the catalog (roles, units, clients, types, fields,
// purposes), checked by the gateway when saved.
async function editRow(live, num) {
  startAction();
  // One line at a time: another open line goes back to what it was.
  if (document.querySelector('#policy-table tr.editing')) renderPolicyTable(state.policy.text);
  await ensureCatalog();
  const tr = $('policy-table').querySelector(`tr[data-line="${num}"]`);
  if (!tr) return;
  const current = state.edits.has(live) ? state.edits.get(live) : live;
  const values = parseLine(current).slice(1);
  const id = (col) => `edit-${num}-${col}`;
  const label = (col) => `${COLUMN_LABELS[col]}, line ${num}`;
  const input = (col, list) => el('input', {
    id: id(col), 'data-col': col, list, value: values[COLUMNS.indexOf(col)] || '', 'aria-label': label(col), spellcheck: 'false', autocomplete: 'off',
  });
  const select = (col, options) => {
    const v = values[COLUMNS.indexOf(col)] || '';
    const opts = options.includes(v) || v === '' ? options : [v, ...options];
    const sel = el('select', { id: id(col), 'data-col': col, 'aria-label': label(col) }, opts.map((o) => el('option', { value: o, text: o })));
    sel.value = v || options[0];
    return sel;
  };
  const actionChoices = (state.catalog && state.catalog.actions) || ['read', 'row', 'introspect', 'admin'];
  const problems = el('tr', { class: 'line-problems', hidden: true },
    el('td', { colspan: 8 }, el('div', { id: `edit-${num}-problems`, role: 'alert' })));
  tr.classList.add('editing');
  tr.replaceChildren(
    el('td', { class: 'num', text: num }),
    el('td', {}, input('subject', 'choices-subject')),
    el('td', {}, input('object', 'choices-object')),
    el('td', {}, select('action', actionChoices)),
    el('td', {}, input('purpose', 'choices-purpose')),
    el('td', {}, select('level', ['clearance', '0', '1', '2', '3'])),
    el('td', {}, select('effect', ['allow', 'deny'])),
    el('td', { class: 'row-actions' },
      el('button', { type: 'button', class: 'save-line', onclick: () => saveRow(tr, live, num, problems), text: 'Save' }),
      el('button', { type: 'button', class: 'link', onclick: () => { startAction(); renderPolicyTable(state.policy.text); }, text: 'Cancel' })));
  tr.after(problems);
  tr.querySelector('input').focus();
}

// saveRow puts the edited line into the editor text and has the gateway
// check it (a dry run): every problem of the line is shown beside it, the
// fields at fault marked; a valid line stays in the editor text, to be
// proposed from "Edit & dry run".
async function saveRow(tr, live, num, problemRow) {
  startAction();
  const box = problemRow.querySelector('[role=alert]');
  const fields = COLUMNS.map((c) => tr.querySelector(`[data-col="${c}"]`));
  for (const f of fields) { f.removeAttribute('aria-invalid'); f.removeAttribute('aria-describedby'); }
  problemRow.hidden = true;
  box.replaceChildren();
  const line = `p, ${fields.map((f) => formatCol(f.value.trim())).join(', ')}`;
  const current = state.edits.has(live) ? state.edits.get(live) : live;
  const ta = $('policy-text');
  const lines = ta.value.split('\n');
  const i = current === null ? -1 : editorLineIndex(lines, current);
  const show = (...nodes) => { box.replaceChildren(...nodes); problemRow.hidden = false; };
  if (i < 0) {
    show(el('p', { class: 'error', text: 'This line is no longer in the editor text: reset the editor to the live policy, or change the text there.' }));
    return;
  }
  if (line === current) {
    show(el('p', { class: 'muted', text: 'No change.' }));
    return;
  }
  lines[i] = line;
  const text = lines.join('\n');
  status(`Checking line ${num}…`);
  const r = await api('POST', '/admin/api/dry-run', { text });
  const bad = !r.ok && Array.isArray(r.data?.lines) ? r.data.lines : [];
  const mine = bad.filter((l) => l.line === i + 1);
  if (mine.length) {
    status('');
    for (const l of mine) {
      const f = l.column && tr.querySelector(`[data-col="${l.column}"]`);
      if (f) { f.setAttribute('aria-invalid', 'true'); f.setAttribute('aria-describedby', box.id); }
    }
    show(el('p', {}, el('strong', { text: `Line ${num} has ${mine.length} problem${mine.length === 1 ? '' : 's'}; nothing was changed:` })),
      el('ul', { class: 'lines line-problem-list' }, mine.map((l) => el('li', {},
        l.column ? el('strong', { text: `${COLUMN_LABELS[l.column] || l.column}: ` }) : null, l.message || ''))));
    (tr.querySelector('[aria-invalid=true]') || fields[0]).focus();
    return;
  }
  if (!r.ok && !bad.length) {
    status('');
    show(el('p', { class: 'error', text: `The line could not be checked: ${problem(r)}` }));
    return;
  }
  ta.value = text;
  state.edits.set(live, line);
  const notes = [];
  if (r.ok) {
    const n = (r.data.changes || []).length;
    notes.push(`${n} decision${n === 1 ? '' : 's'} would change.`);
    if ((r.data.guardRails || []).length) notes.push('A proposal would be refused by the guard rails; see the dry run.');
  } else {
    notes.push(`Other lines of the editor text have problems (${bad.length}); see Edit & dry run.`);
  }
  renderPolicyTable(state.policy.text);
  const row = $('policy-table').querySelector(`tr[data-line="${num}"]`);
  const msg = `Line ${num} changed in the editor text; it is not live until proposed. ${notes.join(' ')}`;
  row.after(el('tr', { class: 'line-saved' }, el('td', { colspan: 8 },
    el('p', { class: 'ok', role: 'status' }, msg, ' ', el('a', { href: '#editor', text: 'Review and propose' })))));
  status(msg);
}

// ---------- catalog ----------

// ensureCatalog loads the catalog once, for the choices of a line's fields.
async function ensureCatalog() {
  if (!state.catalog) await loadCatalog();
}

// fillChoices fills the datalists the line fields offer: subjects from the
// role table, units and clients; objects from the schema's types and fields,
// the admin objects and the row objects; purposes.
function fillChoices(c) {
  const fields = c.fields || [];
  const types = c.types || [...new Set(fields.map((f) => f.type))].sort();
  const subjects = ['*', 'authenticated',
    ...(c.roles || []).map((r) => `role:${r.name}`),
    ...(c.units || []).map((u) => `unit:${u}`),
    ...(c.clients || []).map((x) => `client:${x}`)];
  const rows = [...new Set(fields.flatMap((f) => (f.rows || []).map((r) => r.object)))].sort();
  const objects = [...types.map((t) => `${t}.*`), ...fields.map((f) => f.key), ...rows, 'schema', ...(c.adminObjects || [])];
  const fill = (id, values) => $(id).replaceChildren(...values.map((v) => el('option', { value: v })));
  fill('choices-subject', subjects);
  fill('choices-object', objects);
  fill('choices-purpose', ['*', ...(c.purposes || [])]);
  fill('choices-client', c.clients || []);
}

async function loadCatalog() {
  const r = await api('GET', '/admin/api/catalog');
  if (!r.ok) { showError(`Could not load the field catalog: ${problem(r)}`); return; }
  state.catalog = r.data;
  fillChoices(r.data);
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
    // One entry per problem: a line with several problems is listed once
    // with each of them, its text once.
    const byLine = new Map();
    for (const l of d.lines) {
      if (!byLine.has(l.line)) byLine.set(l.line, []);
      byLine.get(l.line).push(l);
    }
    box.append(el('ul', { class: 'lines' }, [...byLine.values()].map((ps) => el('li', {},
      el('strong', { text: `Line ${ps[0].line}: ` }),
      ps.map((l, i) => [i ? '; ' : '', l.column ? `${COLUMN_LABELS[l.column] || l.column}: ` : '', l.message || '']),
      ps[0].text ? el('code', { text: ps[0].text }) : null))));
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
  startAction();
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
  startAction();
  const comment = $('propose-comment').value.trim();
  if (!comment) {
    showProblems({ status: 400, data: { detail: 'say why in the comment; reviewers and the audit trail need it' } }, 'Proposal');
    $('propose-comment').focus();
    return;
  }
  if (appliesAtOnce() && !(await confirmApply(
    `This gateway does not require a second officer's approval: the change becomes the live policy at once, for every request. Apply it now?`))) {
    status('Nothing was proposed.');
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
  startAction();
  state.loadedText = null;
  loadPolicy();
}

function addLine(ev) {
  ev.preventDefault();
  startAction();
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
      el('p', { class: 'meta' }, `by ${p.author} · `, whenEl(p.createdAt), ` · from version ${p.baseVersion} · ${p.status}`),
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
  startAction();
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
      el('p', { class: 'meta' }, `by ${v.author}${v.approvedBy ? `, approved by ${v.approvedBy}` : ''} · `, whenEl(v.createdAt)),
      el('p', { class: 'comment', text: v.comment || '(no comment)' }),
      el('details', {}, el('summary', { text: 'Diff to the version before' }), diffBlock(v.diff)),
      v.version === live ? null : el('div', { class: 'actions' },
        el('label', { for: `restore-comment-${v.version}`, text: 'Comment' }), comment,
        el('button', { type: 'button', class: 'restore', onclick: () => restore(v.version, comment.value, result), text: `Restore version ${v.version}` })),
      result);
  }));
}

async function restore(version, comment, where) {
  startAction();
  for (const old of document.querySelectorAll('article.version [role=status]')) old.replaceChildren();
  if (appliesAtOnce() && !(await confirmApply(
    `This gateway does not require a second officer's approval: version ${version}'s rules become the live policy at once. Restore it now?`))) {
    status('Nothing was restored.');
    return;
  }
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
    el('td', {}, whenEl(e.at)), el('td', { text: e.actor }), el('td', { text: e.action }),
    el('td', { text: e.proposal ? `#${e.proposal}` : '' }), el('td', { text: e.version || '' }),
    el('td', {}, e.comment || '', e.detail ? el('div', { class: 'small muted', text: e.detail }) : null))));
}

// ---------- access log ----------

// accessLogQuery is the search form as the API's body. The personnummer
// goes only in a POST body: never in a URL, where histories and logs keep it.
function accessLogQuery() {
  const q = {};
  for (const [id, name] of [['al-person', 'person'], ['al-from', 'from'], ['al-to', 'to'], ['al-client', 'client'], ['al-subject', 'subject']]) {
    const v = $(id).value.trim();
    if (v) q[name] = v;
  }
  // Every search is logged too (who looked the person up here); they are
  // listed only when asked for.
  if ($('al-searches').checked) q.includeSearches = true;
  return q;
}

function accessLogProblem(msg) {
  const box = $('accesslog-problem');
  box.textContent = msg;
  box.hidden = !msg;
}

function listCodes(values) {
  return values && values.length ? el('ul', { class: 'globs' }, values.map((v) => el('li', {}, el('code', { text: v })))) : '';
}

async function searchAccessLog(ev) {
  ev.preventDefault();
  startAction();
  accessLogProblem('');
  $('accesslog-summary').textContent = 'Searching…';
  const r = await api('POST', '/admin/api/access-log', accessLogQuery());
  if (!r.ok) {
    $('accesslog-summary').textContent = '';
    accessLogProblem(`Search refused: ${problem(r)}`);
    return;
  }
  const es = r.data.entries || [];
  $('accesslog-table').tBodies[0].replaceChildren(...es.map((e) => el('tr', { 'data-request-id': e.requestId || null },
    el('td', {}, whenEl(e.time)),
    el('td', {}, e.subject, e.roles && e.roles.length ? el('div', { class: 'small muted', text: e.roles.join(', ') }) : null),
    el('td', { text: e.unit || '' }),
    el('td', {}, el('code', { text: e.client })),
    el('td', { text: (e.purposes || []).join(', ') }),
    el('td', { text: e.operation || '' }),
    el('td', {}, listCodes(e.fields)),
    el('td', {}, listCodes(e.denied)))));
  const n = r.data.count;
  $('accesslog-summary').textContent = n === 0
    ? 'No entry matches.'
    : `${n} entr${n === 1 ? 'y' : 'ies'}, newest first${n >= r.data.limit ? ` (only the newest ${r.data.limit}: narrow the search)` : ''}. Times in Swedish time (${r.data.timeZone}).`;
}

// downloadAccessLog fetches the same search as CSV and saves it; the page
// may not navigate to the API (its credential is a header the bridge adds).
async function downloadAccessLog() {
  startAction();
  accessLogProblem('');
  let res;
  try {
    res = await fetch('/admin/api/access-log', {
      method: 'POST', credentials: 'same-origin',
      headers: { Accept: 'text/csv', 'Content-Type': 'application/json', 'X-Kommungraf-CSRF': '1' },
      body: JSON.stringify(accessLogQuery()),
    });
  } catch (err) {
    accessLogProblem(`Download failed: the gateway did not answer (${err.message})`);
    return;
  }
  if (!res.ok) {
    let data = {};
    try { data = await res.json(); } catch { /* not problem+json */ }
    if (res.status === 401) location.assign('/admin');
    accessLogProblem(`Download refused: ${problem({ status: res.status, data })}`);
    return;
  }
  const blob = await res.blob();
  const name = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') || '')?.[1] || 'registerutdrag.csv';
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  status(`Downloaded ${name}.`);
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
  if ($('accesslog-form')) {
    $('accesslog-form').addEventListener('submit', searchAccessLog);
    $('al-csv').addEventListener('click', downloadAccessLog);
  }
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
