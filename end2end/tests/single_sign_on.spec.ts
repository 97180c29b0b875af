import { expect, test } from "@playwright/test";
import { ChildProcess, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { PASSWORD, uniqueEmail, waitForHydration } from "./setups/accounts";
import { freePort, waitForPort } from "./setups/ports";
import { accountWithTotpOverApi, nextWindowCode } from "./setups/totp";

// Single sign-on in a browser: a small relying party (an app that speaks
// OpenID Connect, served here by Node) signs a person in through its own
// Twofold, which runs with an OIDC clients file. The app checks the ID
// token's ES256 signature against Twofold's JWKS with WebCrypto, its iss,
// aud and nonce, and shows the email and amr it got.

const SECRET = "demo-app-secret-for-the-browser-test";
const b64url = (b: Buffer) => b.toString("base64url");


let twofold: ChildProcess | undefined;
let rp: http.Server;
let issuer = "";
let rpBase = "";

/** The relying party: /start, /callback, /refresh. */
function relyingParty(twofoldPort: number): http.Server {
  const pending = new Map<string, { verifier: string; nonce: string }>();
  let refreshToken = "";
  const back = `http://127.0.0.1:${twofoldPort}`; // the back channel, no browser
  const basic = "Basic " + Buffer.from(`demo:${SECRET}`).toString("base64");
  const page = (res: http.ServerResponse, body: string, status = 200) => {
    res.writeHead(status, { "content-type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><title>Demo app</title><main>${body}</main>`);
  };
  async function verified(idToken: string, nonce: string): Promise<Record<string, unknown>> {
    const [h, p, s] = idToken.split(".");
    const header = JSON.parse(Buffer.from(h, "base64url").toString());
    const jwks = (await (await fetch(`${back}/oauth2/jwks`)).json()) as { keys: JsonWebKey[] };
    const jwk = jwks.keys.find((k) => (k as { kid?: string }).kid === header.kid);
    if (!jwk || header.alg !== "ES256") throw new Error("no key for the token");
    const key = await crypto.webcrypto.subtle.importKey("jwk", jwk, { name: "ECDSA", namedCurve: "P-256" }, false, [
      "verify",
    ]);
    const ok = await crypto.webcrypto.subtle.verify(
      { name: "ECDSA", hash: "SHA-256" },
      key,
      Buffer.from(s, "base64url"),
      Buffer.from(`${h}.${p}`),
    );
    if (!ok) throw new Error("bad signature");
    const claims = JSON.parse(Buffer.from(p, "base64url").toString());
    if (claims.iss !== issuer || claims.aud !== "demo" || claims.nonce !== nonce) throw new Error("wrong claims");
    if (claims.exp * 1000 < Date.now()) throw new Error("expired");
    return claims;
  }
  return http.createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", rpBase);
    try {
      if (url.pathname === "/start") {
        const state = b64url(crypto.randomBytes(16));
        const verifier = b64url(crypto.randomBytes(32));
        const nonce = b64url(crypto.randomBytes(16));
        pending.set(state, { verifier, nonce });
        const challenge = b64url(crypto.createHash("sha256").update(verifier).digest());
        const q = new URLSearchParams({
          client_id: "demo",
          redirect_uri: `${rpBase}/callback`,
          response_type: "code",
          scope: "openid email profile offline_access",
          state,
          nonce,
          code_challenge: challenge,
          code_challenge_method: "S256",
        });
        res.writeHead(302, { location: `${issuer}/oauth2/authorize?${q}` });
        res.end();
      } else if (url.pathname === "/callback") {
        const state = url.searchParams.get("state") ?? "";
        const started = pending.get(state);
        if (!started || url.searchParams.get("iss") !== issuer) return page(res, "unexpected answer", 400);
        pending.delete(state);
        const r = await fetch(`${back}/oauth2/token`, {
          method: "POST",
          headers: { authorization: basic, "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({
            grant_type: "authorization_code",
            code: url.searchParams.get("code") ?? "",
            redirect_uri: `${rpBase}/callback`,
            code_verifier: started.verifier,
          }).toString(),
        });
        const tokens = (await r.json()) as { id_token: string; refresh_token: string };
        const claims = await verified(tokens.id_token, started.nonce);
        refreshToken = tokens.refresh_token;
        page(
          res,
          `<h1>Signed in</h1><p id="email">${claims.email}</p><p id="amr">${(claims.amr as string[]).join(" ")}</p>`,
        );
      } else if (url.pathname === "/refresh") {
        const r = await fetch(`${back}/oauth2/token`, {
          method: "POST",
          headers: { authorization: basic, "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken }).toString(),
        });
        const body = (await r.json()) as { refresh_token?: string; error?: string };
        if (body.refresh_token) refreshToken = body.refresh_token;
        page(res, `<p id="refresh">${r.ok ? "refreshed" : `refused: ${body.error}`}</p>`);
      } else {
        page(res, "not here", 404);
      }
    } catch (e) {
      page(res, `error: ${e}`, 500);
    }
  });
}

test.beforeAll(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twofold-sso-"));
  const twofoldPort = await freePort();
  issuer = `http://localhost:${twofoldPort}`;
  rp = relyingParty(twofoldPort);
  await new Promise<void>((resolve) => rp.listen(0, "127.0.0.1", resolve));
  rpBase = `http://127.0.0.1:${(rp.address() as net.AddressInfo).port}`;

  const bin = process.env.TWOFOLD_BIN ?? path.join(__dirname, "../../target/release/twofold");
  // The client secret's hash for the clients file, as `twofold oidc
  // new-secret` prints it (here for a secret the test knows: --stdin).
  const clients = path.join(dir, "clients.toml");
  const made = await new Promise<string>((resolve, reject) => {
    const p = spawn(bin, ["oidc", "new-secret", "--stdin"], { stdio: ["pipe", "pipe", "inherit"] });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.on("close", () => resolve(out));
    p.on("error", reject);
    p.stdin.end(SECRET + "\n");
  });
  const secretLine = made.split("\n").find((l) => l.startsWith("secret = ")) ?? "";
  fs.writeFileSync(
    clients,
    `[[clients]]
id = "demo"
name = "Demo App"
${secretLine}
redirect_uris = ["${rpBase}/callback"]
scopes = ["openid", "profile", "email", "offline_access"]
policy = "two_factor"
consent = "explicit"
`,
  );
  twofold = spawn(
    bin,
    [
      "serve",
      "--addr", `127.0.0.1:${twofoldPort}`,
      "--data-dir", path.join(dir, "data"),
      "--oidc-clients", clients,
      "--signup", "open",
    ],
    { stdio: "ignore" },
  );
  await waitForPort(twofoldPort);
});

test.afterAll(async () => {
  twofold?.kill();
  await new Promise((resolve) => rp?.close(resolve));
});

test("an app signs a person in through Twofold with TOTP, asks consent once, and loses its token when revoked", async ({
  page,
}) => {
  // An account with an authenticator app, made over the API.
  await page.goto(`${issuer}/login`);
  await waitForHydration(page);
  const email = uniqueEmail("sso");
  const { totp, step } = await accountWithTotpOverApi(page, email, PASSWORD);

  // The app sends the browser to Twofold's sign-in page.
  await page.goto(`${rpBase}/start`);
  await expect(page).toHaveURL(new RegExp(`^${issuer}/login\\?rd=`));
  await waitForHydration(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page).toHaveURL(/\/login\/second-factor\?.*rd=/);
  await waitForHydration(page);
  const { code } = await nextWindowCode(totp, step);
  await page.getByLabel("6-digit code").fill(code);

  // The consent page says what the app will learn.
  await expect(page.getByRole("heading", { name: "Sign in to Demo App?" })).toBeVisible();
  await expect(page.getByText("your email address", { exact: true })).toBeVisible();
  await waitForHydration(page);
  await page.getByRole("button", { name: "Allow" }).click();

  // Back on the app, which verified the ID token itself.
  await expect(page).toHaveURL(new RegExp(`^${rpBase}/callback`));
  await expect(page.locator("#email")).toHaveText(email);
  await expect(page.locator("#amr")).toHaveText("pwd otp mfa");

  // Once allowed, the next sign-in to the app goes straight through.
  await page.goto(`${rpBase}/start`);
  await expect(page.locator("#email")).toHaveText(email);
  await page.goto(`${rpBase}/refresh`);
  await expect(page.locator("#refresh")).toHaveText("refreshed");

  // "Apps you signed in to": revoking ends the app's refresh token.
  await page.goto(`${issuer}/account`);
  await waitForHydration(page);
  const apps = page.getByRole("region", { name: "Apps you signed in to" });
  await expect(apps.getByText("Demo App")).toBeVisible();
  await apps.getByRole("button", { name: "Revoke Demo App" }).click();
  await expect(apps.getByText("No app has signed you in through Twofold yet.")).toBeVisible();
  await page.goto(`${rpBase}/refresh`);
  await expect(page.locator("#refresh")).toHaveText("refused: invalid_grant");
});
