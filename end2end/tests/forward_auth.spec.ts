import { expect, test } from "@playwright/test";
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { PASSWORD, uniqueEmail, waitForHydration } from "./setups/accounts";
import { freePort, waitForPort } from "./setups/ports";
import { accountWithTotpOverApi, nextWindowCode } from "./setups/totp";

// Twofold guarding another app behind Debian's nginx, in a browser: its own
// Twofold (cookie domain, access rules, nginx as the trusted proxy), an app
// that echoes who nginx says is asking, and nginx in front of both. Chromium
// resolves every *.localhost name to this machine.
const APP = "app.twofold.localhost";
const LOGIN = "login.twofold.localhost";


const processes: ChildProcess[] = [];
let echo: http.Server;
let proxyPort = 0;

test.beforeAll(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twofold-forward-auth-"));
  proxyPort = await freePort();
  const twofoldPort = await freePort();
  echo = http.createServer((req, res) => res.end(`hello ${req.headers["remote-user"] ?? "nobody"}`));
  await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
  const appPort = (echo.address() as net.AddressInfo).port;

  const rules = path.join(dir, "rules.toml");
  fs.writeFileSync(rules, `[[rules]]\ndomain = "${APP}"\npolicy = "two_factor"\n`);
  const bin = process.env.TWOFOLD_BIN ?? path.join(__dirname, "../../target/release/twofold");
  processes.push(
    spawn(
      bin,
      [
        "serve",
        "--addr", `127.0.0.1:${twofoldPort}`,
        "--data-dir", path.join(dir, "data"),
        "--public-url", `http://${LOGIN}:${proxyPort}`,
        "--cookie-domain", "twofold.localhost",
        "--trusted-proxies", "127.0.0.1",
        "--access-rules", rules,
        "--signup", "open",
      ],
      { stdio: "ignore" },
    ),
  );

  // The snippet docs/OPERATIONS.md shows, on loopback names and ports.
  const conf = path.join(dir, "nginx.conf");
  fs.writeFileSync(
    conf,
    `worker_processes 1;
error_log ${dir}/error.log;
events { worker_connections 64; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${proxyPort};
    server_name ${APP};
    location = /internal/twofold {
      internal;
      proxy_pass http://127.0.0.1:${twofoldPort}/api/authz/auth-request;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
      proxy_set_header X-Original-Method $request_method;
    }
    location / {
      auth_request /internal/twofold;
      auth_request_set $user $upstream_http_remote_user;
      auth_request_set $signin $upstream_http_location;
      error_page 401 =302 $signin;
      proxy_set_header Remote-User $user;
      proxy_pass http://127.0.0.1:${appPort};
    }
  }
  server {
    listen 127.0.0.1:${proxyPort};
    server_name ${LOGIN};
    location / {
      proxy_pass http://127.0.0.1:${twofoldPort};
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`,
  );
  const nginx = fs.existsSync("/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx";
  processes.push(
    spawn(nginx, ["-p", dir, "-c", conf, "-g", `daemon off; pid ${dir}/nginx.pid;`], { stdio: "ignore" }),
  );
  await waitForPort(twofoldPort);
  await waitForPort(proxyPort);
});

test.afterAll(async () => {
  for (const p of processes) p.kill();
  await new Promise((resolve) => echo?.close(resolve));
});

test("through nginx: sent to sign in, password and code, then back on the app as yourself", async ({ page }) => {
  const login = `http://${LOGIN}:${proxyPort}`;
  const appUrl = `http://${APP}:${proxyPort}/dash?tab=1`;
  // An account with an authenticator app, made over the API from a page at
  // Twofold (Node does not resolve *.localhost names; Chromium does).
  await page.goto(`${login}/login`);
  await waitForHydration(page);
  const email = uniqueEmail("guarded");
  const { totp, step } = await accountWithTotpOverApi(page, email, PASSWORD);

  // Signed out, the app sends the browser to Twofold.
  await page.goto(appUrl);
  await expect(page).toHaveURL(new RegExp(`^${login}/login\\?rd=`));
  await waitForHydration(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page).toHaveURL(/\/login\/second-factor\?.*rd=/);
  await waitForHydration(page);
  const { code } = await nextWindowCode(totp, step);
  await page.getByLabel("6-digit code").fill(code);
  // Back on the app, as that person.
  await expect(page).toHaveURL(appUrl);
  await expect(page.locator("body")).toHaveText(`hello ${email}`);
});
