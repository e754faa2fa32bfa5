// Change the email from the account page: the confirmation goes to the new
// address and a notice to the old one; confirming switches the account to
// the new address, which then logs in (and the old one no longer does).
import { BASE, assert, at, detail, launch, linkIn, logIn, logOut, shot, signUp, waitForMail } from './lib.mjs';

const oldEmail = 'carol@example.com';
const newEmail = 'carol.new@example.com';
const password = 'correct horse battery';
const { page, close } = await launch();
try {
  await signUp(page, oldEmail, password);
  const form = page.getByRole('form', { name: 'Change email', exact: true });
  await form.getByLabel('New email', { exact: true }).fill(newEmail);
  await form.getByLabel('Current password', { exact: true }).fill(password);
  await shot(page, 'change-email-filled');
  await form.getByRole('button', { name: 'Change email' }).click();
  await page.getByRole('status').first().waitFor();
  await page.goto(`${BASE}/account`);
  assert.equal(await detail(page, 'Email').innerText(), oldEmail);
  assert.equal(await detail(page, 'Pending email').innerText(), newEmail);
  await shot(page, 'email-change-pending');

  const [confirmation] = await waitForMail(newEmail);
  assert.match(confirmation.subject, /^Confirm your new email/);
  const [notice] = await waitForMail(oldEmail, { where: (m) => m.subject.includes('about to change') });
  assert.ok(notice.text.includes(newEmail), notice.text);
  const link = linkIn(confirmation);
  assert.ok(link.startsWith(`${BASE}/verify#token=`), link);
  await page.goto(link);
  await page.getByText('Your email is verified').waitFor();
  await shot(page, 'new-email-confirmed');

  await page.goto(`${BASE}/account`);
  assert.equal(await detail(page, 'Email').innerText(), newEmail);
  assert.equal(await page.locator('dt', { hasText: 'Pending email' }).count(), 0);

  await logOut(page);
  await logIn(page, newEmail, password);
  await page.waitForURL(at('/account'));
  assert.equal(await detail(page, 'Email').innerText(), newEmail);
  assert.equal(await detail(page, 'Status').innerText(), 'Verified');
  await shot(page, 'logged-in-with-new-email');

  await logOut(page);
  await logIn(page, oldEmail, password);
  await page.getByRole('alert').getByText('Wrong email or password.').waitFor();
} finally {
  await close();
}
