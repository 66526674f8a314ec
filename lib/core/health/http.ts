/** One HTTP(S) GET for the http and prometheus checks: node:http/https, a timeout, a CA or none. */
import * as http from "node:http";
import * as https from "node:https";
import { DEFAULT_HTTP_REQUEST_TIMEOUT_SECONDS, type HttpRequestOptions, redactUrl } from "./checks";

/** Bodies are read up to this many bytes (what a message shows is far less). */
const MAX_BODY = 1 << 20;

export async function httpGet(
  url: string,
  o: HttpRequestOptions = {},
): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  const mod = u.protocol === "https:" ? https : http;
  const timeoutMs = (o.requestTimeoutSeconds ?? DEFAULT_HTTP_REQUEST_TIMEOUT_SECONDS) * 1000;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      u,
      {
        method: "GET",
        headers: { Accept: "application/json, text/plain, */*", ...o.headers },
        ...(u.protocol === "https:"
          ? { ca: o.caCert, rejectUnauthorized: o.insecureSkipTlsVerify !== true }
          : {}),
        timeout: timeoutMs,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          if (size < MAX_BODY) chunks.push(c);
          size += c.length;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () =>
      req.destroy(new Error(`GET ${redactUrl(url)}: no answer within ${timeoutMs / 1000} s`)),
    );
    req.on("error", (e) => {
      const code = (e as { code?: string }).code;
      reject(
        e.message.startsWith("GET ")
          ? e
          : new Error(
              `GET ${redactUrl(url)}: ${code && !e.message.includes(code) ? `${code} ` : ""}${e.message}`,
            ),
      );
    });
    req.end();
  });
}
