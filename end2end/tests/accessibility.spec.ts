import AxeBuilder from "@axe-core/playwright";
import { expect, Page, test } from "@playwright/test";
import { PASSWORD, signUp, uniqueEmail, waitForHydration } from "./setups/accounts";
import { createAdmin, signIn } from "./setups/admin";
import { enrolTotp } from "./setups/totp";

/** No axe-core violations (WCAG 2 A and AA rules) on the page as it is now. */
async function expectAccessible(page: Page, what: string): Promise<void> {
  const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  const found = results.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
  expect(found, what).toEqual([]);
}

test("every page has no axe-core violations", async ({ page, browser }) => {
  for (const path of ["/", "/signup", "/signup?sent=1", "/login", "/confirm-email?token=x", "/set-password?token=x", "/unlock?token=x",
    "/forgot-password", "/forgot-password?sent=1", "/reset-password?token=x", "/recover",
    "/recovery/cancel?token=x", "/recovery/cancel?done=1"]) {
    await page.goto(path);
    await waitForHydration(page);
    await expectAccessible(page, path);
  }
  const email = uniqueEmail("a11y");
  await signUp(page, email);
  await expectAccessible(page, "/account");
  await page.getByRole("link", { name: "Change password" }).click();
  await expect(page.getByRole("heading", { name: "Change password" })).toBeVisible();
  await expectAccessible(page, "/account/password");
  await page.goto("/reauth");
  await expect(page.getByRole("heading", { name: "Confirm it is you" })).toBeVisible();
  await expectAccessible(page, "/reauth");
  await page.goto("/account");
  await enrolTotp(page);
  await expectAccessible(page, "/account with two-factor on");
  await page.getByRole("button", { name: "Sign out" }).click();
  await signIn(page, email, PASSWORD);
  await expect(page.getByRole("heading", { name: "Two-factor authentication" })).toBeVisible();
  await expectAccessible(page, "/login/second-factor");
  // "Lost every factor?", with the sign-in challenge live.
  await page.getByRole("link", { name: /Lost every factor/ }).click();
  await expect(page.getByRole("button", { name: "Start recovery" })).toBeVisible();
  await expectAccessible(page, "/recover");

  const adminEmail = uniqueEmail("a11y-admin");
  createAdmin(adminEmail);
  const admin = await (await browser.newContext()).newPage();
  await signIn(admin, adminEmail);
  await expect(admin.getByTestId("account-email")).toHaveText(adminEmail);
  await admin.goto("/admin");
  await expect(admin.getByRole("heading", { name: "Administration" })).toBeVisible();
  await expectAccessible(admin, "/admin");
});
