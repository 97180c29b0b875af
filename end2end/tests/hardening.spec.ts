import { expect, test } from "@playwright/test";
import { PASSWORD, signUpLink, signUpWithApi, uniqueEmail, waitForHydration } from "./setups/accounts";
import { createAdmin, setEmailCodes, signIn } from "./setups/admin";
import { emailedLink, INVITE_SUBJECT } from "./setups/outbox";
import { enrolTotp } from "./setups/totp";

test("sign up in confirm mode and finish from the outbox link", async ({ page, browser }) => {
  const email = uniqueEmail("confirm");
  const after = Date.now() - 1000;
  await page.goto("/signup");
  await waitForHydration(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/signup\?sent=1$/);
  await expect(page.getByTestId("signup-sent")).toContainText("Check your email: we sent a link");
  // Nobody is signed in until the address is confirmed.
  expect((await page.request.get("/api/me")).status()).toBe(401);

  const { path } = await signUpLink(email, after);
  await page.goto(path);
  await expect(page.getByRole("heading", { name: "Confirm your email" })).toBeVisible();
  // Opening the link changes nothing (mail scanners open links too).
  expect((await page.request.get("/api/me")).status()).toBe(401);
  await page.getByRole("button", { name: "Confirm and sign in" }).click();
  await expect(page).toHaveURL(/\/account$/);
  await expect(page.getByTestId("account-email")).toHaveText(email);

  // The link works once: used again (from a browser that is not signed in),
  // it signs nobody in and the page says so.
  const other = await browser.newContext();
  const again = await other.newPage();
  await again.goto(path);
  await again.getByRole("button", { name: "Confirm and sign in" }).click();
  await expect(again).toHaveURL(/\/confirm-email\?(.*&)?error=Validation/);
  await expect(again.getByRole("alert")).toBeVisible();
  await expect(again.getByRole("alert")).toHaveText(/try again|not valid/);
  expect((await again.request.get("/api/me")).status()).toBe(401);
  await other.close();
});

test("an admin turns codes by email off and the challenge stops offering them", async ({ browser }) => {
  const adminEmail = uniqueEmail("admin");
  createAdmin(adminEmail);
  const adminPage = await (await browser.newContext()).newPage();
  await signIn(adminPage, adminEmail);
  await expect(adminPage.getByTestId("account-email")).toHaveText(adminEmail);

  // A user with a confirmed address and an authenticator app.
  const userEmail = uniqueEmail("nomail");
  const userPage = await (await browser.newContext()).newPage();
  await signUpWithApi(userPage.request, userEmail);
  await userPage.goto("/account");
  await expect(userPage.getByTestId("account-email")).toHaveText(userEmail);
  await enrolTotp(userPage);
  await userPage.getByRole("button", { name: "Sign out" }).click();
  await expect(userPage).toHaveURL(/\/login$/);

  const emailMeACode = userPage.getByRole("button", { name: "Email me a code" });
  const weakerHint = userPage.getByText("Codes by email are weaker than an authenticator app or a passkey");
  try {
    await setEmailCodes(adminPage, false);
    await signIn(userPage, userEmail);
    await expect(userPage).toHaveURL(/\/login\/second-factor\?email=off$/);
    await expect(userPage.getByRole("heading", { name: "Two-factor authentication" })).toBeVisible();
    await expect(userPage.getByLabel("6-digit code")).toBeVisible();
    await expect(emailMeACode).toHaveCount(0);
    await expect(weakerHint).toHaveCount(0);
    // The server refuses them too, not only the page.
    const refused = await userPage.request.post("/api/auth/email-code");
    expect(refused.status()).toBe(400);
    expect(await refused.json()).toMatchObject({ error: "Validation", field: "method" });

    await setEmailCodes(adminPage, true);
    await signIn(userPage, userEmail);
    await expect(userPage).toHaveURL(/\/login\/second-factor$/);
    await expect(emailMeACode).toBeVisible();
    await expect(weakerHint).toBeVisible();
  } finally {
    // The server is shared by every test: put the policy back.
    await setEmailCodes(adminPage, true);
  }
});

test("an admin invites someone who sets a password from the mailed link", async ({ browser }) => {
  const adminEmail = uniqueEmail("admin");
  createAdmin(adminEmail);
  const adminPage = await (await browser.newContext()).newPage();
  await signIn(adminPage, adminEmail);
  await expect(adminPage.getByTestId("account-email")).toHaveText(adminEmail);

  const invitee = uniqueEmail("invited");
  const after = Date.now() - 1000;
  await adminPage.goto("/admin");
  await waitForHydration(adminPage);
  await adminPage.getByLabel("Email", { exact: true }).fill(invitee);
  await adminPage.getByRole("button", { name: "Invite", exact: true }).click();
  await expect(adminPage.getByRole("status")).toHaveText(
    "The account is made; they were emailed a link to choose a password.",
  );
  await adminPage.getByLabel("Search by email").fill(invitee);
  await adminPage.getByRole("button", { name: "Search" }).click();
  await expect(adminPage.locator(`tr[data-email="${invitee}"]`)).toHaveCount(1);

  const { path } = await emailedLink(invitee, INVITE_SUBJECT, "/set-password", after);
  const page = await (await browser.newContext()).newPage();
  await page.goto(path);
  await expect(page.getByRole("heading", { name: "Choose your password" })).toBeVisible();
  await waitForHydration(page);
  const password = "maple orbit kettle 93";
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Save password and sign in" }).click();
  await expect(page).toHaveURL(/\/account$/);
  await expect(page.getByTestId("account-email")).toHaveText(invitee);

  // The chosen password is theirs from now on.
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await signIn(page, invitee, password);
  await expect(page).toHaveURL(/\/account$/);
  await expect(page.getByTestId("account-email")).toHaveText(invitee);
});

test("the sign-in page loads no other page's code; the account page's code comes on navigation", async ({ page }) => {
  const email = uniqueEmail("lazy");
  await signUpWithApi(page.request, email);
  await page.context().clearCookies();
  const loaded: string[] = [];
  page.on("request", (r) => {
    const path = new URL(r.url()).pathname;
    if (path.startsWith("/pkg/")) loaded.push(path);
  });
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));

  await page.goto("/login");
  await waitForHydration(page);
  expect(loaded).toContain("/pkg/twofold.wasm");
  expect(loaded.filter((p) => /\/(split|chunk)_/.test(p)), "no other route's code").toEqual([]);

  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Account security" })).toBeVisible();
  await expect(page.getByTestId("account-email")).toHaveText(email);
  expect(loaded.some((p) => /\/split_.*account/i.test(p)), loaded.join(", ")).toBe(true);
  expect(problems).toEqual([]);
});
