import { expect, Page } from "@playwright/test";
import * as OTPAuth from "otpauth";

/** The TOTP generator for a key as the wizard shows it (grouped base32). */
export function totpFor(groupedKey: string): OTPAuth.TOTP {
  return new OTPAuth.TOTP({
    issuer: "Twofold",
    algorithm: "SHA1",
    digits: 6,
    period: 30,
    secret: OTPAuth.Secret.fromBase32(groupedKey.replace(/\s+/g, "")),
  });
}

/**
 * A code from the next time window: the step used at enrolment is spent
 * (replay guard), so later sign-ins wait for a fresh one.
 */
export async function nextWindowCode(totp: OTPAuth.TOTP, afterStep: number): Promise<{ code: string; step: number }> {
  for (;;) {
    const now = Date.now();
    const step = Math.floor(now / 1000 / 30);
    if (step > afterStep) return { code: totp.generate({ timestamp: now }), step };
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Runs the wizard from the account page; returns the generator and backup codes. */
export async function enrolTotp(page: Page): Promise<{ totp: OTPAuth.TOTP; step: number; codes: string[] }> {
  await page.getByRole("link", { name: "Set up two-factor authentication" }).click();
  await expect(page.getByRole("heading", { name: "Scan the QR code" })).toBeVisible();
  await expect(page.getByRole("img", { name: /QR code/ })).toBeVisible();
  const key = (await page.getByTestId("totp-secret").textContent()) ?? "";
  const totp = totpFor(key);
  await page.getByRole("button", { name: "Next: enter a code" }).click();
  // Code and step from one instant, so the step is the one the server marks used.
  const now = Date.now();
  const step = Math.floor(now / 1000 / 30);
  const code = totp.generate({ timestamp: now });
  // Pasted with a space, as people do; six digits submit on their own.
  await page.getByLabel("6-digit code").fill(`${code.slice(0, 3)} ${code.slice(3)}`);
  await expect(page.getByRole("heading", { name: "Save your backup codes" })).toBeVisible();
  const codes = await page.getByRole("list", { name: "Backup codes" }).locator("li").allTextContents();
  expect(codes).toHaveLength(10);
  const finish = page.getByRole("button", { name: "Finish" });
  await expect(finish).toBeDisabled();
  await page.getByLabel("I have saved these codes").check();
  await finish.click();
  await expect(page.getByText("Two-factor authentication: on")).toBeVisible();
  return { totp, step, codes };
}

/**
 * An account with an authenticator app, made over the API from a page
 * already open at Twofold (for tests whose subject is what comes after), then
 * signed out. Returns its email, generator and the step used at enrolment.
 */
export async function accountWithTotpOverApi(
  page: Page,
  email: string,
  password: string,
): Promise<{ totp: OTPAuth.TOTP; step: number }> {
  const post = (to: string, data: object) =>
    page.evaluate(
      async ([to, data]) => {
        const r = await fetch(to as string, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(data),
        });
        return { status: r.status, body: await r.text() };
      },
      [to, data] as const,
    );
  expect((await post("/api/auth/register", { email, password })).status).toBe(201);
  const setup = JSON.parse((await post("/api/mfa/totp/start", {})).body);
  const totp = totpFor(setup.secret);
  const now = Date.now();
  const step = Math.floor(now / 1000 / 30);
  expect((await post("/api/mfa/totp/confirm", { code: totp.generate({ timestamp: now }) })).status).toBe(200);
  expect((await post("/api/auth/logout", {})).status).toBe(204);
  return { totp, step };
}
