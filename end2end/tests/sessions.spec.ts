import { expect, test } from "@playwright/test";
import { PASSWORD, signUp, uniqueEmail } from "./setups/accounts";

test("see sessions and recent activity, sign out everywhere else", async ({ page, browser }) => {
  const email = uniqueEmail("sessions");
  await signUp(page, email);

  // A second browser signs in to the same account.
  const other = await browser.newContext();
  const otherPage = await other.newPage();
  await otherPage.goto("/login");
  await otherPage.getByLabel("Email").fill(email);
  await otherPage.getByLabel("Password").fill(PASSWORD);
  await otherPage.getByRole("button", { name: "Sign in" }).click();
  await expect(otherPage.getByTestId("account-email")).toHaveText(email);

  await page.reload();
  const sessions = page.getByRole("list", { name: "Sessions" }).getByRole("listitem");
  await expect(sessions).toHaveCount(2);
  await expect(sessions.filter({ hasText: "This device" })).toHaveCount(1);
  const activity = page.getByRole("list", { name: "Recent security activity" });
  await expect(activity).toContainText("Account created");
  await expect(activity).toContainText("Signed in");

  await page.getByRole("button", { name: "Sign out everywhere else" }).click();
  await expect(page.getByRole("status")).toHaveText("Signed out of 1 other sessions.");
  await expect(sessions).toHaveCount(1);
  expect((await otherPage.request.get("/api/me")).status()).toBe(401);
  await other.close();
});
