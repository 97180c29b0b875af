import * as fs from "node:fs";
import * as path from "node:path";

/**
 * Mail the server sent, read from its outbox (`DATA_DIR/outbox`, where mail
 * goes as `.eml` files when no SMTP server is configured). Mail is written in
 * the background, so every reader here polls for up to 10 s.
 */

export const CONFIRM_SUBJECT = "Confirm your email for Twofold";
export const INVITE_SUBJECT = "You are invited to Twofold";
export const CODE_SUBJECT = "Your Twofold sign-in code";

function outboxDir(): string {
  return path.join(process.env.DATA_DIR ?? "data", "outbox");
}

/** Quoted-printable: soft line breaks (`=\r\n`, `=\n`) undone, `=XX` bytes decoded. */
export function decodeQuotedPrintable(text: string): string {
  const unfolded = text.replace(/=\r?\n/g, "");
  const bytes: number[] = [];
  for (let i = 0; i < unfolded.length; i++) {
    const hex = unfolded.slice(i + 1, i + 3);
    if (unfolded[i] === "=" && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(unfolded[i], "utf8"));
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/** Header name (lower case) to value, folded lines joined. */
function parseHeaders(block: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of block.replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

function splitEntity(raw: string): { headers: Map<string, string>; body: string } {
  const m = /\r?\n\r?\n/.exec(raw);
  if (!m) return { headers: parseHeaders(raw), body: "" };
  return { headers: parseHeaders(raw.slice(0, m.index)), body: raw.slice(m.index + m[0].length) };
}

/**
 * The decoded text of every part of a MIME entity, or `null` when it is not
 * complete yet (a multipart without its closing boundary: still being written).
 */
function decodedText(raw: string): string | null {
  const { headers, body } = splitEntity(raw);
  const type = headers.get("content-type") ?? "text/plain";
  if (/^multipart\//i.test(type)) {
    const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
    if (!boundary) return null;
    const closing = `--${boundary}--`;
    const end = body.indexOf(closing);
    if (end < 0) return null;
    const parts = body.slice(0, end).split(`--${boundary}`).slice(1);
    const texts: string[] = [];
    for (const part of parts) {
      const text = decodedText(part.replace(/^\r?\n/, ""));
      if (text === null) return null;
      texts.push(text);
    }
    return texts.join("\n");
  }
  const encoding = (headers.get("content-transfer-encoding") ?? "7bit").toLowerCase();
  if (encoding === "quoted-printable") return decodeQuotedPrintable(body);
  if (encoding === "base64") return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
  return body;
}

/** `To:` names `to` (bare, or as `Name <to>`). Our subjects are plain ASCII, so no RFC 2047 decoding. */
function isAddressedTo(headers: Map<string, string>, to: string): boolean {
  const value = (headers.get("to") ?? "").toLowerCase();
  const want = to.toLowerCase();
  return value.split(",").some((mailbox) => {
    const address = /<([^>]+)>/.exec(mailbox)?.[1] ?? mailbox;
    return address.trim() === want;
  });
}

/**
 * Polls the outbox until a mail to `to` with subject `subject`, written at or
 * after `after` (ms since the epoch), yields something from `pick` (given the
 * mail's decoded text); newest mail first.
 */
export async function waitForMail<T>(
  to: string,
  subject: string,
  after: number,
  pick: (text: string) => T | undefined,
): Promise<T> {
  const dir = outboxDir();
  const deadline = Date.now() + 10_000;
  for (;;) {
    const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".eml")) : [];
    const mails = files
      .map((f) => {
        try {
          return { f, stat: fs.statSync(path.join(dir, f)) };
        } catch {
          return null; // gone between listing and reading
        }
      })
      .filter((m): m is { f: string; stat: fs.Stats } => m !== null && m.stat.mtimeMs >= after)
      .sort((a, b) => b.stat.mtimeMs - a.stat.mtimeMs);
    for (const { f } of mails) {
      const raw = fs.readFileSync(path.join(dir, f), "utf8");
      const { headers } = splitEntity(raw);
      if (!isAddressedTo(headers, to) || headers.get("subject") !== subject) continue;
      const text = decodedText(raw);
      const found = text === null ? undefined : pick(text);
      if (found !== undefined) return found;
    }
    if (Date.now() > deadline) throw new Error(`no mail "${subject}" to ${to} in ${dir}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The sign-in code from the newest code mail to `to`. */
export async function emailedCode(to: string, after: number): Promise<string> {
  return waitForMail(to, CODE_SUBJECT, after, (text) => text.match(/^\s*(\d{6})\s*$/m)?.[1]);
}

/**
 * The link to `page` (e.g. "/confirm-email") in the newest mail `subject` to
 * `to`: its token, and its path to open under the tests' BASE_URL (the mail
 * names the server's public URL, http://localhost:PORT by default, whose
 * cookies would not be the ones the tests' 127.0.0.1 pages see).
 */
export async function emailedLink(
  to: string,
  subject: string,
  page: string,
  after = 0,
): Promise<{ url: string; token: string; path: string }> {
  const escaped = page.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  const pattern = new RegExp(`(https?://[^\\s"'<>]*?${escaped})\\?token=([A-Za-z0-9_-]+)`);
  return waitForMail(to, subject, after, (text) => {
    const m = pattern.exec(text);
    if (!m) return undefined;
    return { url: `${m[1]}?token=${m[2]}`, token: m[2], path: `${page}?token=${m[2]}` };
  });
}
