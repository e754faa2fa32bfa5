// An account registered through the JSON API (as an app's own client
// would): its verification email arrives through the SMTP server with a
// link to the server's public URL, the link opens in the browser and
// verifies the address, and the bearer-token API then reports it verified.
import { BASE, assert, launch, linkIn, shot, waitForMail } from './lib.mjs';

const email = 'api@example.com';
const password = 'correct horse battery';

/** A same-origin JSON call from the page, as a page's script would make. */
function call(page, method, path, body, token) {
  return page.evaluate(
    async ({ method, path, body, token }) => {
      const headers = { 'content-type': 'application/json' };
      if (token) headers.authorization = `Bearer ${token}`;
      const res = await fetch(path, { method, headers, body: body && JSON.stringify(body) });
      return { status: res.status, json: await res.json().catch(() => null) };
    },
    { method, path, body, token },
  );
}

const { page, close } = await launch();
try {
  const health = await page.goto(`${BASE}/healthz`);
  assert.equal(health.status(), 200);
  assert.equal(await page.locator('body').innerText(), 'ok');

  const registered = await call(page, 'POST', '/users/register', { email, password });
  assert.equal(registered.status, 201);
  assert.equal(registered.json.is_verified, false);

  const [mail] = await waitForMail(email);
  assert.match(mail.subject, /^Confirm your email/);
  const link = linkIn(mail);
  assert.ok(link.startsWith(`${BASE}/verify#token=`), link);
  await page.goto(link);
  await page.getByText('Your email is verified').waitFor();
  await shot(page, 'verified');

  // The pages' Content-Security-Policy lets no script fetch: call the API
  // from a plain response of the same origin, as an app's own page would.
  await page.goto(`${BASE}/healthz`);
  const login = await call(page, 'POST', '/users/login', { email, password });
  assert.equal(login.status, 200);
  const me = await call(page, 'GET', '/users/me', undefined, login.json.access_token);
  assert.equal(me.status, 200);
  assert.equal(me.json.is_verified, true);
} finally {
  await close();
}
