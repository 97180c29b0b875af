import * as fs from "node:fs";
import * as path from "node:path";

/**
 * The sign-in code from the newest mail to `to` in the server's outbox
 * (`DATA_DIR/outbox`, where mail goes when no SMTP server is configured).
 */
export async function emailedCode(to: string, after: number): Promise<string> {
  const dir = path.join(process.env.DATA_DIR ?? "data", "outbox");
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".eml")) : [];
    const mails = files
      .map((f) => ({ f, stat: fs.statSync(path.join(dir, f)) }))
      .filter(({ stat }) => stat.mtimeMs >= after)
      .sort((a, b) => b.stat.mtimeMs - a.stat.mtimeMs)
      .map(({ f }) => fs.readFileSync(path.join(dir, f), "utf8"))
      .filter((text) => text.includes(`To: ${to}`) && text.includes("Subject: Your Twofold sign-in code"));
    const code = mails[0]?.match(/^\s*(\d{6})\s*$/m)?.[1];
    if (code) return code;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no sign-in mail to ${to} in ${dir}`);
}
