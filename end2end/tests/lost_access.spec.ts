import { expect, test } from "@playwright/test";
import { PASSWORD, signUpWithApi, uniqueEmail, waitForHydration } from "./setups/accounts";
import { signIn } from "./setups/admin";
import { emailedLink } from "./setups/outbox";
import { textedCode, uniquePhone } from "./setups/texts";
import { nextWindowCode, totpFor } from "./setups/totp";

// Text messages and a forgotten password, as a person goes through them.
// The test server runs with `--sms-provider outbox`: texts are files in
// DATA_DIR/sms-outbox, mail is in DATA_DIR/outbox.

test("add a phone with the texted code, then sign in with 'Text me a code'", async ({ page }) => {
  const email = uniqueEmail("phone");
  const phone = uniquePhone();
  await page.goto("/");
  await signUpWithApi(page.request, email);
  await page.goto("/account");
  await waitForHydration(page);

  let after = Date.now() - 1000;
  await page.getByLabel("Mobile number, with the country code").fill(phone.replace("+44", "+44 "));
  await page.getByLabel("The phone's name").fill("My phone");
  await page.getByRole("button", { name: "Text me a code" }).click();
  await expect(page.getByText(/We texted a 6-digit code to \+44 •••• ••• \d{3}/)).toBeVisible();
  // A wrong code first: said plainly, nothing added.
  await page.getByLabel("Code from the text message").fill("000000");
  await page.getByRole("button", { name: "Add this phone" }).click();
  await expect(page.getByRole("alert")).toContainText("not right");
  await page.getByLabel("Code from the text message").fill(await textedCode(phone, after));
  await page.getByRole("button", { name: "Add this phone" }).click();
  await expect(page.getByText("Two-factor authentication is on. Save these backup codes now")).toBeVisible();
  const row = page.getByTestId("factor").filter({ hasText: "My phone" });
  await expect(row).toContainText(`Text messages to +44 •••• ••• ${phone.slice(-3)}`);
  // The number itself never shows.
  await expect(page.locator("body")).not.toContainText(phone.slice(-6));

  await page.getByRole("button", { name: "Sign out" }).first().click();
  await signIn(page, email);
  await expect(page).toHaveURL(/\/login\/second-factor\?.*sms=on/);
  after = Date.now() - 1000;
  await page.getByRole("button", { name: "Text me a code" }).click();
  await expect(page).toHaveURL(/method=sms/);
  // Six digits submit on their own.
  await page.getByLabel("Code from the text message").fill(await textedCode(phone, after));
  await expect(page.getByRole("heading", { name: "Account security" })).toBeVisible();
});

test("forgot password with two-factor on, end to end from the mail", async ({ page }) => {
  const email = uniqueEmail("forgot");
  const newPassword = "violet harbour engine 77";
  await page.goto("/");
  await signUpWithApi(page.request, email);
  const setup = await (await page.request.post("/api/mfa/totp/start", { data: {} })).json();
  const totp = totpFor(setup.secret);
  const now = Date.now();
  const step = Math.floor(now / 1000 / 30);
  const confirmed = await page.request.post("/api/mfa/totp/confirm", { data: { code: totp.generate({ timestamp: now }) } });
  expect(confirmed.status()).toBe(200);
  await page.request.post("/api/auth/logout", { data: {} });

  await page.goto("/login");
  await waitForHydration(page);
  await page.getByRole("link", { name: "Forgot your password?" }).click();
  await expect(page.getByRole("heading", { name: "Forgot your password?" })).toBeVisible();
  const after = Date.now() - 1000;
  await page.getByLabel("Email").fill(email);
  await page.getByRole("button", { name: "Send me a link" }).click();
  await expect(page.getByRole("status")).toContainText("If an account uses this address");

  const { path } = await emailedLink(email, "Reset your Twofold password", "/reset-password", after);
  await page.goto(path);
  await waitForHydration(page);
  await expect(page.getByText("a reset needs one of your factors too")).toBeVisible();
  // The second factor is not optional: a wrong code changes nothing.
  await page.getByLabel("New password").fill(newPassword);
  await page.getByLabel("Answer with").selectOption("Totp");
  await page.getByLabel("Code", { exact: true }).fill("000000");
  await page.getByRole("button", { name: "Save new password" }).click();
  await expect(page.getByRole("alert")).toContainText("not right");
  await expect(page).toHaveURL(/\/reset-password\?token=/);

  const { code } = await nextWindowCode(totp, step);
  await page.getByLabel("New password").fill(newPassword);
  await page.getByLabel("Code", { exact: true }).fill(code);
  await page.getByRole("button", { name: "Save new password" }).click();
  await expect(page).toHaveURL(/\/login\?reset=1$/);
  await expect(page.getByRole("status")).toContainText("Your password is changed");

  // The old password no longer works; the new one leads to the code page.
  await signIn(page, email, PASSWORD);
  await expect(page.getByRole("alert")).toContainText("not right");
  await signIn(page, email, newPassword);
  await expect(page.getByRole("heading", { name: "Two-factor authentication" })).toBeVisible();
});
