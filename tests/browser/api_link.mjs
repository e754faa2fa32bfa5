// The harness: Chromium reaches the example server, and an account
// registered through the JSON API gets its verification email through the
// SMTP server, with a link to the server's public URL.
import { BASE, assert, launch, linkIn, shot, waitForMail } from './lib.mjs';

const { page, close } = await launch();
try {
  const health = await page.goto(`${BASE}/healthz`);
  assert.equal(health.status(), 200);
  assert.equal(await page.locator('body').innerText(), 'ok');
  await shot(page, 'healthz');

  // The browser itself registers (a same-origin fetch, as a page's script would).
  const status = await page.evaluate(async () => {
    const res = await fetch('/users/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'api@example.com', password: 'correct horse battery' }),
    });
    return res.status;
  });
  assert.equal(status, 201);

  const [mail] = await waitForMail('api@example.com');
  assert.match(mail.subject, /^Confirm your email/);
  const link = linkIn(mail);
  assert.ok(link.startsWith(`${BASE}/verify#token=`), link);
  console.log(`verification link ${link.split('#')[0]}#token=…`);
} finally {
  await close();
}
