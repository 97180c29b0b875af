import AxeBuilder from "@axe-core/playwright";
import { BrowserContext, expect, Page, test } from "@playwright/test";
import { PASSWORD, signUp, uniqueEmail, waitForHydration } from "./setups/accounts";

// A passkey belongs to a host name (the relying party ID), never to an IP
// address: these pages are opened at http://localhost:PORT, the server's
// default public URL on a loopback address.
const base = (process.env.BASE_URL ?? "http://127.0.0.1:3000").replace("127.0.0.1", "localhost");
test.use({ baseURL: base });

/**
 * Chromium's virtual authenticator (CDP WebAuthn domain): a platform
 * passkey (CTAP2, internal transport) that keeps resident keys and verifies
 * its user; or, with `residentKeys` false, a USB security key whose keys are
 * not discoverable. Its id lets a test change it.
 */
async function addAuthenticator(context: BrowserContext, page: Page, residentKeys = true) {
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: residentKeys ? "internal" : "usb",
      hasResidentKey: residentKeys,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

/** Console errors, less the ones the browser logs for refused requests. */
function watchConsole(page: Page): string[] {
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(e.message));
  return problems;
}

async function addPasskey(page: Page, name: string) {
  await page.getByLabel(/Name it/).fill(name);
  await page.getByRole("button", { name: "Add a passkey" }).click();
}

async function signOut(page: Page) {
  await page.getByRole("button", { name: "Sign out" }).first().click();
  await expect(page).toHaveURL(/\/login/);
}

test("add a passkey, sign out, sign in with it and no password", async ({ page, context }) => {
  const problems = watchConsole(page);
  await addAuthenticator(context, page);
  const email = uniqueEmail("passkey");
  await signUp(page, email);
  await waitForHydration(page);

  await addPasskey(page, "This laptop");
  // The first factor: MFA turns on and the backup codes are shown once.
  await expect(page.getByRole("status").filter({ hasText: "Save these backup codes" })).toBeVisible();
  await expect(page.getByTestId("codes-left")).toHaveText("10 left");
  await expect(page.getByText("Two-factor authentication: on")).toBeVisible();
  const factors = page.getByRole("list", { name: "Second factors" }).getByTestId("factor");
  await expect(factors).toHaveCount(1);
  await expect(factors.first()).toContainText("This laptop");
  await expect(factors.first()).toContainText("Passkey or security key");

  await signOut(page);
  // This browser offers no passkeys in the email field's autofill, so the
  // button is the way in.
  await page.addInitScript(() => {
    PublicKeyCredential.isConditionalMediationAvailable = async () => false;
  });
  await page.goto("/login");
  await waitForHydration(page);
  await page.getByRole("button", { name: "Use a passkey" }).click();
  await expect(page).toHaveURL(/\/account/);
  await expect(page.getByTestId("account-email")).toHaveText(email);
  await expect(factors.first()).toContainText("last used");
  expect(problems).toEqual([]);
});

test("the email field's autofill offers the passkey and signs in with it", async ({ page, context }) => {
  const problems = watchConsole(page);
  await addAuthenticator(context, page);
  const email = uniqueEmail("passkeyautofill");
  await signUp(page, email);
  await waitForHydration(page);
  await addPasskey(page, "Phone");
  await expect(page.getByText("Two-factor authentication: on")).toBeVisible();
  await signOut(page);
  // Conditional mediation: the page asks when the email field gets focus;
  // Chromium's virtual authenticator picks the one passkey as a person
  // would in the list.
  await page.goto("/login");
  await waitForHydration(page);
  await page.getByLabel("Email").focus();
  await expect(page).toHaveURL(/\/account/);
  await expect(page.getByTestId("account-email")).toHaveText(email);
  expect(problems).toEqual([]);
});

test("password, then a security key as the second factor; rename and remove it", async ({ page, context }) => {
  const problems = watchConsole(page);
  await addAuthenticator(context, page, false);
  const email = uniqueEmail("passkey2fa");
  await signUp(page, email);
  await waitForHydration(page);
  await addPasskey(page, "Key");
  await expect(page.getByText("Two-factor authentication: on")).toBeVisible();
  await signOut(page);

  await page.goto("/login");
  await waitForHydration(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page).toHaveURL(/\/login\/second-factor\?.*passkey=on/);
  await waitForHydration(page);
  const axe = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  expect(axe.violations.map((v) => v.id)).toEqual([]);
  // No authenticator app on this account: the page starts with the passkey.
  await expect(page.getByText("Open your authenticator app")).toHaveCount(0);
  await page.getByRole("button", { name: "Use a passkey or security key" }).click();
  await expect(page).toHaveURL(/\/account/);

  // Rename and remove with the keyboard.
  await page.getByRole("button", { name: "Rename Key" }).focus();
  await page.keyboard.press("Enter");
  await page.getByLabel("New name").fill("YubiKey 5C");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("factor-name")).toHaveText("YubiKey 5C");
  await page.getByRole("button", { name: "Remove YubiKey 5C" }).click();
  await expect(page.getByRole("status").filter({ hasText: "was removed" })).toContainText(
    "two-factor authentication is off",
  );
  expect(problems).toEqual([]);
});

test("a cancelled ceremony says so and changes nothing", async ({ page, context }) => {
  const problems = watchConsole(page);
  const { cdp, authenticatorId } = await addAuthenticator(context, page);
  await signUp(page, uniqueEmail("passkeycancel"));
  await waitForHydration(page);
  // The person refuses: the authenticator does not verify them.
  await cdp.send("WebAuthn.setUserVerified", { authenticatorId, isUserVerified: false });
  await addPasskey(page, "Refused");
  await expect(page.getByRole("alert")).toContainText("cancelled or timed out", { timeout: 20_000 });
  await expect(page.getByText("No second factor yet.")).toBeVisible();
  await expect(page.getByText("Two-factor authentication: off")).toBeVisible();
  expect(problems).toEqual([]);
});
