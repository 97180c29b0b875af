import * as fs from "node:fs";
import * as path from "node:path";

/**
 * Text messages the server sent, read from its SMS outbox
 * (`DATA_DIR/sms-outbox`, one file per text: `To:` line, blank line, text),
 * as `--sms-provider outbox` writes them.
 */
function smsOutboxDir(): string {
  return path.join(process.env.DATA_DIR ?? "data", "sms-outbox");
}

/** A fresh valid UK mobile number per test (E.164). */
export function uniquePhone(): string {
  return `+4479111${String(Math.floor(Math.random() * 1e5)).padStart(5, "0")}`;
}

/** The 6-digit code in the newest text to `to` written at or after `after` (ms). */
export async function textedCode(to: string, after: number): Promise<string> {
  const dir = smsOutboxDir();
  const deadline = Date.now() + 10_000;
  for (;;) {
    const files = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
    const texts = files
      .map((f) => ({ f, stat: fs.statSync(path.join(dir, f)) }))
      .filter((t) => t.stat.mtimeMs >= after)
      .sort((a, b) => b.stat.mtimeMs - a.stat.mtimeMs);
    for (const { f } of texts) {
      const text = fs.readFileSync(path.join(dir, f), "utf8");
      if (!text.startsWith(`To: ${to}\n`)) continue;
      const code = text.match(/\b(\d{6})\b/)?.[1];
      if (code) return code;
    }
    if (Date.now() > deadline) throw new Error(`no text to ${to} in ${dir}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
