import { expect, test } from "@playwright/test";
import { PASSWORD, signUp, uniqueEmail } from "./setups/accounts";
import { emailedCode } from "./setups/outbox";
import { enrolTotp, nextWindowCode } from "./setups/totp";

async function signOutAndIn(page: import("@playwright/test").Page, email: string) {
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/login\/second-factor$/);
  await expect(page.getByRole("heading", { name: "Two-factor authentication" })).toBeVisible();
}

test("enrol an authenticator app, then sign in with a code from it", async ({ page }) => {
  const email = uniqueEmail("totp");
  await signUp(page, email);
  const { totp, step, codes } = await enrolTotp(page);
  await expect(page.getByTestId("codes-left")).toHaveText("10 left");
  expect(codes[0]).toMatch(/^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{2}$/);

  await signOutAndIn(page, email);
  // The pending challenge grants nothing.
  expect((await page.request.get("/api/me")).status()).toBe(401);

  // A wrong code: a clear error, still on the page.
  await page.getByLabel("6-digit code").fill("000000");
  await expect(page.getByRole("alert")).toHaveText(/not right|already used/);

  const { code } = await nextWindowCode(totp, step);
  await page.getByLabel("6-digit code").fill(code);
  await expect(page).toHaveURL(/\/account$/);
  await expect(page.getByTestId("account-email")).toHaveText(email);
  await expect(page.getByText("Two-factor authentication: on")).toBeVisible();
});

test("sign in with a backup code, which then stops working", async ({ page }) => {
  const email = uniqueEmail("backup");
  await signUp(page, email);
  const { codes } = await enrolTotp(page);
  await signOutAndIn(page, email);
  await page.getByRole("link", { name: "Use a backup code instead" }).click();
  await page.getByLabel("Backup code").fill(codes[0].toUpperCase());
  await page.getByRole("button", { name: "Verify" }).click();
  await expect(page).toHaveURL(/\/account$/);
  // The used code is replaced by a new one, shown once; the set stays at ten.
  const replacement = page.getByTestId("replacement-code");
  await expect(replacement).toContainText("no longer works");
  const newCode = (await replacement.locator("code").textContent()) ?? "";
  expect(newCode).toMatch(/^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{2}$/);
  await expect(page.getByTestId("codes-left")).toHaveText("10 left");
  await page.reload();
  await expect(page.getByTestId("account-email")).toHaveText(email);
  await expect(page.getByTestId("replacement-code")).toHaveCount(0);

  await signOutAndIn(page, email);
  await page.getByRole("link", { name: "Use a backup code instead" }).click();
  await page.getByLabel("Backup code").fill(codes[0]);
  await page.getByRole("button", { name: "Verify" }).click();
  await expect(page.getByRole("alert")).toHaveText("That code is not right.");
});

test("turn two-factor authentication off with password and code", async ({ page }) => {
  const email = uniqueEmail("disable");
  await signUp(page, email);
  const { codes } = await enrolTotp(page);
  await page.getByLabel("Password").fill("wrong password here");
  await page.getByLabel("Code from your app or a backup code").fill(codes[2]);
  await page.getByRole("button", { name: "Turn off" }).click();
  await expect(page.getByRole("alert")).toHaveText("The email or password is not right.");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByLabel("Code from your app or a backup code").fill(codes[3]);
  await page.getByRole("button", { name: "Turn off" }).click();
  await expect(page.getByText("Two-factor authentication: off")).toBeVisible();
});

test("five wrong codes lock the sign-in with a clear message", async ({ page }) => {
  const email = uniqueEmail("lockout");
  await signUp(page, email);
  await enrolTotp(page);
  await signOutAndIn(page, email);
  const field = page.getByLabel("6-digit code");
  for (let i = 0; i < 5; i++) {
    await field.fill("000000");
    await expect(page.getByRole("alert")).toHaveText(/not right|already used/);
    await expect(field).toHaveValue("");
  }
  await field.fill("000000");
  await expect(page.getByRole("alert")).toHaveText("Too many attempts. Try again in 15 minutes.");
});

test("trust this device: the next sign-in skips the code until the device is forgotten", async ({ page }) => {
  const email = uniqueEmail("trust");
  await signUp(page, email);
  const { codes } = await enrolTotp(page);
  await signOutAndIn(page, email);
  await page.getByRole("link", { name: "Use a backup code instead" }).click();
  await page.getByLabel("Backup code").fill(codes[0]);
  await page.getByLabel("Trust this device for 30 days").check();
  await page.getByRole("button", { name: "Verify" }).click();
  await expect(page).toHaveURL(/\/account$/);
  const devices = page.getByRole("list", { name: "Trusted devices" }).getByRole("listitem");
  await expect(devices).toHaveCount(1);
  await expect(devices.first()).toContainText("This device");

  // Password only, straight to the account.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/account$/);

  await page.getByRole("button", { name: "Forget all devices" }).click();
  await expect(page.getByText("No trusted devices.")).toBeVisible();
  await signOutAndIn(page, email);
});

test("sign in with an emailed code, trust the device, then sign in without a code", async ({ page }) => {
  const email = uniqueEmail("mail");
  await signUp(page, email);
  await enrolTotp(page);
  await signOutAndIn(page, email);
  const before = Date.now() - 1000;
  await page.getByRole("button", { name: "Email me a code" }).click();
  await expect(page).toHaveURL(/method=email/);
  const code = await emailedCode(email, before);
  await page.getByLabel("Trust this device for 30 days").check();
  await page.getByLabel("Code from the email").fill(code);
  await expect(page).toHaveURL(/\/account$/);

  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/account$/);
  await expect(page.getByRole("list", { name: "Recent security activity" })).toContainText("Sign-in code sent by email");
});
