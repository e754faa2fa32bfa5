// Sign up in the page; the verification email arrives through SMTP; its
// link, opened in the browser, verifies the address; the account page then
// shows the account as verified.
import { BASE, assert, detail, launch, linkIn, shot, signUp, waitForMail } from './lib.mjs';

const email = 'alice@example.com';
const { page, close } = await launch();
try {
  await page.goto(`${BASE}/signup`);
  await page.getByRole('heading', { level: 1, name: 'Sign up' }).waitFor();
  await shot(page, 'signup');
  await signUp(page, email, 'correct horse battery');
  assert.equal(await detail(page, 'Email').innerText(), email);
  assert.equal(await detail(page, 'Status').innerText(), 'Not verified');
  await shot(page, 'account-not-verified');

  const [mail] = await waitForMail(email, { where: (m) => m.subject.startsWith('Confirm your email') });
  const link = linkIn(mail);
  assert.ok(link.startsWith(`${BASE}/verify#token=`), link);
  await page.goto(link);
  await page.getByRole('heading', { level: 1, name: 'Verify your email' }).waitFor();
  await page.getByText('Your email is verified').waitFor();
  await shot(page, 'verified');

  await page.goto(`${BASE}/account`);
  assert.equal(await detail(page, 'Status').innerText(), 'Verified');
  await shot(page, 'account-verified');

  // The link is spent: opened again, it says so and offers a new one.
  await page.goto(link);
  await page.getByRole('alert').filter({ hasText: /expired|used/i }).waitFor();
  const newLink = /new link/i;
  await page.getByRole('button', { name: newLink }).or(page.getByRole('link', { name: newLink })).waitFor();
  await shot(page, 'verify-link-spent');
} finally {
  await close();
}
