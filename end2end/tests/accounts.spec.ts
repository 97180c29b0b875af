import { expect, test } from "@playwright/test";
import { confirmSignUp, PASSWORD, signUp, uniqueEmail, waitForHydration } from "./setups/accounts";

test("sign up, see MFA off, sign out, sign in again", async ({ page }) => {
  const email = uniqueEmail();
  await signUp(page, email);
  await expect(page).toHaveURL(/\/account$/);
  await expect(page.getByTestId("account-email")).toHaveText(email);
  await expect(page.getByText("Two-factor authentication: off")).toBeVisible();

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();

  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/account$/);
  await expect(page.getByTestId("account-email")).toHaveText(email);
  await expect(page.getByText("Two-factor authentication: off")).toBeVisible();
});

test("a wrong password shows an error and does not sign in", async ({ page }) => {
  const email = uniqueEmail();
  await signUp(page, email);
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);

  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("not the right password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toHaveText("The email or password is not right.");
  await expect(page).toHaveURL(/\/login$/);
  const me = await page.request.get("/api/me");
  expect(me.status()).toBe(401);
});

test("a weak password is refused with the reason", async ({ page }) => {
  await page.goto("/signup");
  await waitForHydration(page);
  await page.getByLabel("Email").fill(uniqueEmail());
  await page.getByLabel("Password").fill("password1234");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByRole("alert")).toContainText("most common");
  await expect(page).toHaveURL(/\/signup$/);
});

test("pages load without console errors and hydrate (client-side navigation)", async ({ page }) => {
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));

  await page.goto("/");
  await waitForHydration(page);
  let fullLoads = 0;
  page.on("load", () => fullLoads++);
  await page.getByRole("link", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await page.getByRole("link", { name: "Create an account" }).click();
  await expect(page.getByRole("heading", { name: "Create an account" })).toBeVisible();
  // The router handled both clicks in the page: no document was loaded again.
  expect(fullLoads).toBe(0);
  expect(problems).toEqual([]);
});

test("the sign-in form works without JavaScript", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const email = uniqueEmail("nojs");
  const after = Date.now() - 1000;
  await page.goto("/signup");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  // Sign-up is confirmed by email: the form post lands on the notice, and the
  // mailed link's page is a plain form too.
  await expect(page).toHaveURL(/\/signup\?sent=1$/);
  await expect(page.getByTestId("signup-sent")).toContainText("Check your email");
  await confirmSignUp(page, email, after);
  await expect(page).toHaveURL(/\/account$/);
  await expect(page.getByTestId("account-email")).toHaveText(email);

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("wrong password here");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toHaveText("The email or password is not right.");
  await context.close();
});

test("keyboard only: tab through the sign-in form and submit with Enter", async ({ page }) => {
  const email = uniqueEmail("keys");
  await signUp(page, email);
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.getByLabel("Email").focus();
  await page.keyboard.type(email);
  await page.keyboard.press("Tab");
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("account-email")).toHaveText(email);
});
