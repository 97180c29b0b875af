import { APIRequestContext, expect, Page } from "@playwright/test";
import { CONFIRM_SUBJECT, emailedLink } from "./outbox";

/** A fresh address per test, so tests never depend on each other. */
export function uniqueEmail(prefix = "person"): string {
  return `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
}

export const PASSWORD = "tuba lantern orbit 42";

/** Waits until the WASM app has hydrated the page. */
export async function waitForHydration(page: Page): Promise<void> {
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
}

/**
 * The sign-up link mailed to `email` (sign-up is confirmed by email, the
 * server's default): its token and its path under BASE_URL.
 */
export async function signUpLink(email: string, after = 0): Promise<{ token: string; path: string }> {
  return emailedLink(email, CONFIRM_SUBJECT, "/confirm-email", after);
}

/**
 * Finishes a sign-up the way its owner does: opens the mailed link and
 * confirms. Plain pages and forms, so it works with and without JavaScript.
 * The server then signs the new account in and redirects to where it starts
 * (the account page, or the wizard under an MFA policy).
 */
export async function confirmSignUp(page: Page, email: string, after = 0): Promise<void> {
  const { path } = await signUpLink(email, after);
  await page.goto(path);
  await page.getByRole("button", { name: "Confirm and sign in" }).click();
}

/**
 * Creates an account from the sign-up page: the form, the "check your email"
 * notice, then the mailed link. Ends signed in on the account page.
 */
export async function signUp(page: Page, email: string, password = PASSWORD): Promise<void> {
  const after = Date.now() - 1000;
  await page.goto("/signup");
  await waitForHydration(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/signup\?sent=1$/);
  await expect(page.getByTestId("signup-sent")).toContainText("Check your email");
  await confirmSignUp(page, email, after);
  await expect(page.getByRole("heading", { name: "Account security" })).toBeVisible();
}

/**
 * Creates an account over the API and signs it in within `request`'s
 * context (use `page.request` to sign in the page's browser context too):
 * register (202, a link is mailed), then the link's token to confirm-email.
 */
export async function signUpWithApi(
  request: APIRequestContext,
  email: string,
  password = PASSWORD,
): Promise<void> {
  const after = Date.now() - 1000;
  const registered = await request.post("/api/auth/register", { data: { email, password } });
  expect(registered.status()).toBe(202);
  expect(await registered.json()).toMatchObject({ email });
  const { token } = await signUpLink(email, after);
  const confirmed = await request.post("/api/auth/confirm-email", { data: { token } });
  expect(confirmed.status()).toBe(200);
  expect(await confirmed.json()).toMatchObject({ email });
}
