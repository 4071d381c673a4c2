// Kommungraf policy editor: sign-in view (and the sign-out button of the
// forbidden view). The token goes to POST /admin/session, which checks it and
// keeps it in an HttpOnly cookie; this script never stores it.
'use strict';

const CSRF = { 'X-Kommungraf-CSRF': '1' };

function showError(msg) {
  const el = document.getElementById('signin-error');
  if (!el) { alert(msg); return; }
  el.textContent = msg;
  el.hidden = false;
}

async function problemText(res) {
  try {
    const p = await res.json();
    return p.detail || p.title || `HTTP ${res.status}`;
  } catch {
    return `HTTP ${res.status}`;
  }
}

async function signIn(token) {
  const res = await fetch('/admin/session', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...CSRF },
    body: JSON.stringify({ token }),
  });
  if (res.ok) {
    location.assign('/admin');
    return;
  }
  if (res.status === 403) {
    showError(`Refused (FORBIDDEN): ${await problemText(res)}`);
  } else if (res.status === 401) {
    showError('The token was not accepted: it is invalid or has expired.');
  } else {
    showError(`Sign-in failed: ${await problemText(res)}`);
  }
}

document.getElementById('token-form')?.addEventListener('submit', (ev) => {
  ev.preventDefault();
  signIn(document.getElementById('token').value);
});

for (const b of document.querySelectorAll('button.persona')) {
  b.addEventListener('click', async () => {
    const res = await fetch('/demo/token?persona=' + encodeURIComponent(b.dataset.persona));
    if (!res.ok) {
      showError(`No demo token for ${b.dataset.persona} (HTTP ${res.status}).`);
      return;
    }
    const { token } = await res.json();
    await signIn(token);
  });
}

document.getElementById('sign-out')?.addEventListener('click', async () => {
  await fetch('/admin/session/logout', { method: 'POST', headers: CSRF });
  location.assign('/admin');
});
