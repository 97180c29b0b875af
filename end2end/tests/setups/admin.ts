import { execFileSync } from "node:child_process";
import { expect, Page } from "@playwright/test";
import { PASSWORD, waitForHydration } from "./accounts";

/**
 * Makes `email` an admin the way an operator does: `twofold admin create`
 * on the server's data directory, the password read from standard input.
 */
export function createAdmin(email: string, password = PASSWORD): void {
  const bin = process.env.TWOFOLD_BIN;
  const dataDir = process.env.DATA_DIR;
  if (!bin || !dataDir) throw new Error("TWOFOLD_BIN and DATA_DIR must be set (scripts/test.sh sets them)");
  execFileSync(bin, ["admin", "create", "--email", email, "--data-dir", dataDir], {
    input: `${password}\n`,
  });
}

export async function signIn(page: Page, email: string, password = PASSWORD): Promise<void> {
  await page.goto("/login");
  await waitForHydration(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** Sets the MFA policy from the admin page. */
export async function setPolicy(page: Page, require: "Nobody" | "Admins" | "Everyone", days = 7): Promise<void> {
  await page.goto("/admin");
  await page.getByLabel("Require two-factor authentication for").selectOption(require);
  await page.getByLabel("Days to set it up").fill(String(days));
  await page.getByRole("button", { name: "Save policy" }).click();
  await expect(page.getByRole("status")).toHaveText("The policy is saved.");
}

/** Allows or forbids codes by email from the admin page's policy form. */
export async function setEmailCodes(page: Page, allowed: boolean): Promise<void> {
  const value = allowed ? "true" : "false";
  await page.goto("/admin");
  await waitForHydration(page);
  await page.getByLabel("Codes by email").selectOption(value);
  await page.getByRole("button", { name: "Save policy" }).click();
  await expect(page.getByRole("status")).toHaveText("The policy is saved.");
  await expect(page.getByLabel("Codes by email")).toHaveValue(value);
}
