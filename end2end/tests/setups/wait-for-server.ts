// Waits (up to 60 s) until the server answers /healthz: the runner that starts
// it does not wait for the port itself.
export default async function waitForServer(): Promise<void> {
  const base = process.env.BASE_URL ?? "http://127.0.0.1:3000";
  const deadline = Date.now() + 60_000;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok) return;
      last = `status ${r.status}`;
    } catch (e) {
      last = String(e);
    }
    await new Promise((res) => setTimeout(res, 250));
  }
  throw new Error(`server at ${base} did not become healthy: ${last}`);
}
