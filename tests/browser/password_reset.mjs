// Log out, ask for a reset link, set a new password from the emailed link,
// log in with it; the old password no longer works.
import { BASE, assert, at, launch, linkIn, logIn, logOut, shot, signUp, waitForMail } from './lib.mjs';

const email = 'bob@example.com';
const oldPassword = 'correct horse battery';
const newPassword = 'a brand new passphrase';
const { page, close } = await launch();
try {
  await signUp(page, email, oldPassword);
  await logOut(page);
  await shot(page, 'logged-out');

  await page.goto(`${BASE}/forgot-password`);
  await page.getByRole('heading', { level: 1, name: 'Forgot password' }).waitFor();
  await page.getByLabel('Email', { exact: true }).fill(email);
  await shot(page, 'forgot-password');
  await page.getByRole('button', { name: 'Send reset link' }).click();
  await page.getByText('Check your email').waitFor();
  await shot(page, 'check-your-email');

  const [mail] = await waitForMail(email, { where: (m) => m.subject.startsWith('Reset your') });
  const link = linkIn(mail);
  assert.ok(link.startsWith(`${BASE}/password-reset#token=`), link);
  await page.goto(link);
  await page.getByRole('heading', { level: 1, name: 'Set a new password' }).waitFor();
  await page.getByLabel('New password', { exact: true }).fill(newPassword);
  await shot(page, 'set-new-password');
  await page.getByRole('button', { name: 'Set new password' }).click();
  await page.getByText('Your password has been changed').waitFor();
  await shot(page, 'password-changed');

  await page.getByRole('link', { name: 'Log in', exact: true }).click();
  await page.waitForURL(at('/login'));
  await logIn(page, email, newPassword);
  await page.waitForURL(at('/account'));
  await page.getByRole('heading', { level: 1, name: 'Your account' }).waitFor();
  await shot(page, 'logged-in-with-new-password');

  await logOut(page);
  await logIn(page, email, oldPassword);
  const alert = page.getByRole('alert');
  await alert.getByText('Wrong email or password.').waitFor();
  await shot(page, 'old-password-refused');
  // Still signed out.
  await page.goto(`${BASE}/account`);
  await page.waitForURL(at('/login'));
} finally {
  await close();
}
