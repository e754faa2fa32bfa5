// A page on another origin (http://localhost:OTHERPORT: same site, so the
// SameSite=Lax session cookie IS sent) auto-submits forms to the account
// page: the change-email form without the CSRF token, with the victim's
// real token (as if it had leaked), and the delete-account form. Each is
// refused with 403 and the account stays as it was; the same fields posted
// from the account page's own origin do go through, so the refusals come
// from the CSRF defence and not from a malformed form.
import http from 'node:http';
import { BASE, assert, detail, launch, shot, signUp } from './lib.mjs';

const email = 'erin@example.com';
const password = 'correct horse battery';
const attackerEmail = 'mallory@example.com';

/** The form named `name` on the account page: where it posts and its fields. */
async function readForm(page, name) {
  const form = page.getByRole('form', { name, exact: true });
  await form.waitFor();
  // Attributes, not the `action`/`method` properties: a field named
  // "action" would shadow those.
  return form.evaluate((f) => ({
    action: new URL(f.getAttribute('action') ?? '', document.baseURI).href,
    method: f.getAttribute('method'),
    fields: [...f.elements]
      .filter((e) => e.name && e.tagName !== 'BUTTON')
      .map((e) => ({ name: e.name, value: e.value })),
  }));
}

async function fieldName(page, form, label) {
  return page.getByRole('form', { name: form, exact: true }).getByLabel(label, { exact: true }).getAttribute('name');
}

function escape(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** An attacker's page: a form that submits itself on load. */
function attackPage(action, fields) {
  const inputs = fields
    .map(({ name, value }) => `<input type="hidden" name="${escape(name)}" value="${escape(value)}">`)
    .join('\n');
  return `<!doctype html><title>You won a prize</title>
<form id="f" method="post" action="${escape(action)}">${inputs}</form>
<script>document.getElementById('f').submit();</script>`;
}

const { context, page, close } = await launch();
const pages = new Map();
const attacker = http.createServer((req, res) => {
  const body = pages.get(req.url);
  res.writeHead(body ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
  res.end(body ?? 'not found');
});
await new Promise((resolve) => attacker.listen(0, '127.0.0.1', resolve));
const ATTACKER = `http://localhost:${attacker.address().port}`;

try {
  await signUp(page, email, password);
  const change = await readForm(page, 'Change email');
  const newEmailField = await fieldName(page, 'Change email', 'New email');
  const changePasswordField = await fieldName(page, 'Change email', 'Current password');
  const del = await readForm(page, 'Delete account');
  const deletePasswordField = await fieldName(page, 'Delete account', 'Current password');
  assert.ok(change.fields.some((f) => f.name === 'csrf_token'), 'the change-email form carries a csrf_token');

  const filled = (form, values, keepToken) =>
    form.fields
      .filter((f) => keepToken || f.name !== 'csrf_token')
      .map((f) => (f.name in values ? { name: f.name, value: values[f.name] } : f));
  const changeValues = { [newEmailField]: attackerEmail, [changePasswordField]: password };
  pages.set('/change-email', attackPage(change.action, filled(change, changeValues, false)));
  pages.set('/change-email-stolen-token', attackPage(change.action, filled(change, changeValues, true)));
  pages.set('/delete-account', attackPage(del.action, filled(del, { [deletePasswordField]: password }, false)));

  const sessionCookies = (await context.cookies(BASE)).map((c) => c.name);
  assert.ok(sessionCookies.length > 0, 'signed in with a cookie');

  for (const path of ['/change-email', '/change-email-stolen-token', '/delete-account']) {
    const tab = await context.newPage();
    const posted = tab.waitForResponse((r) => r.request().method() === 'POST' && r.url().startsWith(BASE));
    await tab.goto(`${ATTACKER}${path}`);
    const response = await posted;
    const sent = await response.request().allHeaders();
    // The browser did send the session cookie: only the CSRF defence stands in the way.
    assert.ok(
      sessionCookies.some((name) => (sent.cookie ?? '').includes(`${name}=`)),
      `the cross-origin post carried the session cookie (sent: ${sent.cookie})`,
    );
    assert.equal(sent.origin, ATTACKER);
    assert.equal(sent['sec-fetch-site'], 'same-site');
    assert.equal(response.status(), 403, `${path}: the cross-origin post was not refused`);
    // The refusal, not the attacker's page, is what the screenshot shows.
    await tab.waitForURL((url) => url.origin === BASE);
    await shot(tab, `refused${path.replaceAll('/', '-')}`);
    await tab.close();
  }

  // Nothing changed: same address, no pending change, still signed in.
  await page.goto(`${BASE}/account`);
  await page.getByRole('heading', { level: 1, name: 'Your account' }).waitFor();
  assert.equal(await detail(page, 'Email').innerText(), email);
  assert.equal(await page.locator('dt', { hasText: 'Pending email' }).count(), 0);
  await shot(page, 'account-unchanged');

  // Control: the very fields of the stolen-token attack, posted from the
  // account page's own origin, are accepted.
  const fields = filled(await readForm(page, 'Change email'), changeValues, true);
  const accepted = page.waitForResponse((r) => r.request().method() === 'POST' && r.url() === change.action);
  await page.evaluate(
    ({ action, fields }) => {
      const f = document.createElement('form');
      f.method = 'post';
      f.action = action;
      for (const { name, value } of fields) {
        const input = document.createElement('input');
        input.type = 'hidden';
        input.name = name;
        input.value = value;
        f.append(input);
      }
      document.body.append(f);
      f.submit();
    },
    { action: change.action, fields },
  );
  const response = await accepted;
  assert.ok(response.status() < 400, `the same-origin control was refused: ${response.status()}`);
  // The account page the form's redirect leads to shows the change.
  await detail(page, 'Pending email').filter({ hasText: attackerEmail }).waitFor();
} finally {
  attacker.close();
  await close();
}
