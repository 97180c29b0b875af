import { expect, test } from "@playwright/test";
import { PASSWORD, signUp, uniqueEmail } from "./setups/accounts";
import { createAdmin, setPolicy, signIn } from "./setups/admin";
import { enrolTotp } from "./setups/totp";

test("an admin requires MFA for everyone; a user signing in is led into the wizard", async ({ browser }) => {
  const adminEmail = uniqueEmail("admin");
  createAdmin(adminEmail);
  const userEmail = uniqueEmail("member");
  const userPage = await (await browser.newContext()).newPage();
  await signUp(userPage, userEmail);
  await userPage.getByRole("button", { name: "Sign out" }).click();
  await expect(userPage).toHaveURL(/\/login$/);

  const adminPage = await (await browser.newContext()).newPage();
  await signIn(adminPage, adminEmail);
  await expect(adminPage.getByRole("link", { name: "Administration" })).toBeVisible();
  try {
    await setPolicy(adminPage, "Everyone", 7);
    await expect(adminPage.getByLabel("Require two-factor authentication for")).toHaveValue("Everyone");

    await signIn(userPage, userEmail);
    await expect(userPage).toHaveURL(/\/account\/two-factor$/);
    await expect(userPage.getByTestId("policy-banner")).toContainText(
      "Two-factor authentication is required by",
    );
    await expect(userPage.getByRole("heading", { name: "Scan the QR code" })).toBeVisible();
  } finally {
    // The server is shared by every test: put the policy back.
    await setPolicy(adminPage, "Nobody");
  }
});

test("an admin resets the MFA of a user who lost their phone", async ({ browser }) => {
  const userEmail = uniqueEmail("lost");
  const userPage = await (await browser.newContext()).newPage();
  await signUp(userPage, userEmail);
  await enrolTotp(userPage);
  await userPage.getByRole("button", { name: "Sign out" }).click();

  const adminEmail = uniqueEmail("admin");
  createAdmin(adminEmail);
  const adminPage = await (await browser.newContext()).newPage();
  await signIn(adminPage, adminEmail);
  await expect(adminPage.getByTestId("account-email")).toHaveText(adminEmail);
  await adminPage.goto("/admin");
  await adminPage.getByLabel("Search by email").fill(userEmail);
  await adminPage.getByRole("button", { name: "Search" }).click();
  const row = adminPage.locator(`tr[data-email="${userEmail}"]`);
  await expect(row.locator("td").nth(2)).toHaveText("on");
  await row.getByText("Reset two-factor", { exact: true }).click();
  await row.getByRole("button", { name: `Reset two-factor for ${userEmail}` }).click();
  await expect(adminPage.getByRole("status")).toContainText("reset");
  await adminPage.getByLabel("Search by email").fill(userEmail);
  await adminPage.getByRole("button", { name: "Search" }).click();
  await expect(adminPage.locator(`tr[data-email="${userEmail}"] td`).nth(2)).toHaveText("off");

  // The password alone signs them in now.
  await signIn(userPage, userEmail, PASSWORD);
  await expect(userPage).toHaveURL(/\/account$/);
  await expect(userPage.getByText("Two-factor authentication: off")).toBeVisible();
});

test("a person changes their password and other sessions end", async ({ browser }) => {
  const email = uniqueEmail("pw");
  const first = await (await browser.newContext()).newPage();
  await signUp(first, email);
  const second = await (await browser.newContext()).newPage();
  await signIn(second, email);
  await expect(second.getByTestId("account-email")).toHaveText(email);

  await first.getByRole("link", { name: "Change password" }).click();
  await first.getByLabel("Current password").fill(PASSWORD);
  await first.getByLabel("New password").fill("short");
  await first.getByRole("button", { name: "Change password" }).click();
  // The browser's own check stops it; nothing is sent.
  await expect(first).toHaveURL(/\/account\/password$/);
  await first.getByLabel("New password").fill("velvet harbor compass 58");
  await first.getByRole("button", { name: "Change password" }).click();
  await expect(first.getByRole("status")).toContainText("Your password was changed");

  await second.reload();
  await expect(second.getByRole("heading", { name: "You are signed out" })).toBeVisible();
  await signIn(second, email, "velvet harbor compass 58");
  await expect(second.getByTestId("account-email")).toHaveText(email);
});
