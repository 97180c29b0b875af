import { expect, test } from "@playwright/test";
import { signUp, uniqueEmail, waitForHydration } from "./setups/accounts";
import { enrolTotp } from "./setups/totp";

test("the account page lists the authenticator app; rename it, then remove it", async ({ page }) => {
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(e.message));
  await signUp(page, uniqueEmail("factors"));
  await enrolTotp(page);

  const factors = page.getByRole("list", { name: "Second factors" }).getByTestId("factor");
  await expect(factors).toHaveCount(1);
  await expect(factors.first()).toContainText("Authenticator app");
  await expect(factors.first()).toContainText("added");

  // Rename with the keyboard only.
  await page.getByRole("button", { name: "Rename Authenticator app" }).click();
  const name = page.getByLabel("New name");
  await name.fill("Pixel 8");
  await name.press("Enter");
  await expect(page.getByTestId("factor-name")).toHaveText("Pixel 8");
  await page.reload();
  await expect(page.getByTestId("factor-name")).toHaveText("Pixel 8");
  // The buttons answer once the reloaded page is hydrated.
  await waitForHydration(page);

  // A blank name is refused and changes nothing.
  await page.getByRole("button", { name: "Rename Pixel 8" }).click();
  await page.getByLabel("New name").fill("   ");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("alert")).toContainText("name");
  await page.getByRole("button", { name: "Cancel" }).click();
  await expect(page.getByTestId("factor-name")).toHaveText("Pixel 8");

  // The enrolment just proved a factor: removing is inside the window.
  await page.getByRole("button", { name: "Remove Pixel 8" }).click();
  await expect(page.getByRole("status").filter({ hasText: "was removed" })).toContainText(
    "It was your last factor, so two-factor authentication is off.",
  );
  await expect(page.getByText("Two-factor authentication: off")).toBeVisible();
  await expect(page.getByText("No second factor yet.")).toBeVisible();
  // The browser logs the refused blank name (400) itself; nothing else.
  expect(problems.filter((p) => !p.includes("status of 400"))).toEqual([]);
  expect(problems.filter((p) => p.includes("status of 400"))).toHaveLength(1);
});
